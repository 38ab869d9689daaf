"""Stampede protection: one fetch for a missing hot key; a dead lock holder blocks nobody long."""

from __future__ import annotations

import threading
import time
from unittest import mock

from django.core.cache import caches

from cachemon import cache_aside, counters, keys
from tests.base import FlockTestCase

from .support import fast_passwords


class FakeClock:
    """Stands in for the `time` module inside cache_aside: sleeping advances a virtual clock."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = 0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        self.now += seconds

    def time_ns(self):
        return time.time_ns()


@fast_passwords
class StampedeTestCase(FlockTestCase):
    def lock_key(self, namespace: str, church_id: int, *parts) -> str:
        """The lock a request filling this entry takes, under the entry's current generation."""
        scope = keys.church_scope(church_id)
        cache = caches["default"]
        gen_key = keys.generation(namespace, scope)
        gen = cache.get(gen_key) or cache_aside._new_generation(cache, gen_key)
        return keys.lock(keys.data(namespace, scope, *parts), gen)

    def test_it_fetches_a_missing_hot_key_once_for_20_threads(self):
        calls = 0
        calls_lock = threading.Lock()
        start = threading.Barrier(20)
        results, errors = [], []

        def fetch():
            nonlocal calls
            with calls_lock:
                calls += 1
            time.sleep(0.3)  # a slow query: everyone else arrives while it runs (no DB touched)
            return {"members_total": 42}

        def worker():
            try:
                start.wait()
                results.append(cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",),
                                                  fetch=fetch, ttl=60))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                caches["default"].close()

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        self.assertEqual(errors, [])
        self.assertEqual(calls, 1)
        self.assertEqual(results, [{"members_total": 42}] * 20)
        figures = counters.totals()[keys.STATS]
        self.assertEqual(figures["hits"] + figures["misses"], 20)
        self.assertEqual(figures["errors"], 0)

    def test_it_gives_up_on_a_dead_lock_holder_at_the_lock_ttl(self):
        # A holder that died without a value and whose lock never expires: the worst case.
        cache = caches["default"]
        cache.set(self.lock_key(keys.STATS, self.grace.id, "summary"), "dead-holder", timeout=None)
        clock = FakeClock()
        fetch = mock.Mock(return_value="from-db")

        with mock.patch.object(keys, "LOCK_TTL", 2), mock.patch.object(cache_aside, "time", clock):
            value = cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=fetch, ttl=60)

        self.assertEqual(value, "from-db")
        fetch.assert_called_once()
        # Waited (in virtual time) until the lock TTL and not a poll longer.
        self.assertGreaterEqual(clock.now - 1000.0, 2)
        self.assertLess(clock.now - 1000.0, 2.1)
        self.assertLess(clock.sleeps, 40)

    def test_it_takes_over_when_a_dead_holders_lock_expires(self):
        cache = caches["default"]
        cache.add(self.lock_key(keys.STATS, self.grace.id, "summary"), "dead-holder", timeout=1)
        fetch = mock.Mock(return_value="fresh")

        with mock.patch.object(keys, "LOCK_TTL", 5):
            value = cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=fetch, ttl=60)
            # The waiter took the expired lock, fetched and stored: the next read is a hit.
            again = cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",),
                                       fetch=mock.Mock(return_value="not-used"), ttl=60)

        self.assertEqual((value, again), ("fresh", "fresh"))
        fetch.assert_called_once()

    def test_it_releases_the_lock_when_fetch_fails(self):
        def broken():
            raise RuntimeError("query failed")

        with self.assertRaises(RuntimeError):
            cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=broken, ttl=60)
        lock_key = self.lock_key(keys.STATS, self.grace.id, "summary")
        self.assertIsNone(caches["default"].get(lock_key))
        self.assertEqual(
            cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=lambda: "ok", ttl=60),
            "ok",
        )
