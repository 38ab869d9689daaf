"""Redis slow or gone: fetch answers, the error is counted and logged once, the breaker spares
requests while open and closes by itself after the cooldown."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import override_settings

from cachemon import cache_aside, counters, keys
from cachemon.breaker import CLOSED, HALF_OPEN, OPEN, breaker
from tests.base import FlockTestCase

from .support import CountingCache, RedisServer, dead_redis_caches, redis_caches


class Fetch:
    def __init__(self, value="from-db"):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def counting(cache) -> tuple[CountingCache, mock._patch]:
    proxy = CountingCache(cache)
    return proxy, mock.patch.object(cache_aside, "caches", {"default": proxy})


class OutageTestCase(FlockTestCase):
    def lookup(self, fetch, *parts):
        return cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary", *parts), fetch=fetch, ttl=60)

    def test_it_answers_from_fetch_when_the_cache_port_is_dead(self):
        fetch = Fetch()
        with override_settings(CACHES=dead_redis_caches(), CACHE_BREAKER_COOLDOWN=60):
            proxy, patch = counting(caches["default"])
            with patch, self.assertLogs("cachemon", "ERROR") as logs:
                answers = [self.lookup(fetch) for _ in range(10)]

        self.assertEqual(answers, ["from-db"] * 10)
        self.assertEqual(fetch.calls, 10)
        # Logged once for the whole outage, not per request.
        self.assertEqual(len(logs.records), 1)
        self.assertIn("cache unavailable", logs.records[0].getMessage())
        # Only the first request talked to the cache; the open breaker spared the nine others.
        self.assertEqual(len(proxy.calls), 1)
        self.assertEqual(breaker.state, OPEN)
        # Every lookup is counted as an error (kept in-process while the cache was away).
        breaker.reset()
        self.assertEqual(counters.totals()[keys.STATS], {"hits": 0, "misses": 0, "errors": 10})

    def test_it_tries_once_per_cooldown_and_logs_no_more(self):
        fetch = Fetch()
        with override_settings(CACHES=dead_redis_caches(), CACHE_BREAKER_COOLDOWN=0.05):
            proxy, patch = counting(caches["default"])
            with patch, self.assertLogs("cachemon", "ERROR") as logs:
                self.lookup(fetch)
                self.assertEqual(breaker.state, OPEN)
                time.sleep(0.1)
                self.assertEqual(breaker.state, HALF_OPEN)
                # Half-open: the first request is the trial, the next ones keep skipping.
                for _ in range(5):
                    self.lookup(fetch)

        self.assertEqual(fetch.calls, 6)
        self.assertEqual(len(proxy.calls), 2)  # the first request and the one trial
        self.assertEqual(len(logs.records), 1)
        self.assertEqual(breaker.state, OPEN)

    def test_it_keeps_counts_pending_while_open_and_flushes_after(self):
        with override_settings(CACHES=dead_redis_caches(), CACHE_BREAKER_COOLDOWN=60):
            with self.assertLogs("cachemon", "ERROR"):
                self.lookup(Fetch())
            # A due flush does not pay the timeout the breaker spares requests.
            with mock.patch.object(counters, "FLUSH_INTERVAL", 0):
                self.assertFalse(counters.flush())
            self.assertEqual(counters._pending[keys.metrics_field(keys.STATS, "errors")], 1)
        breaker.reset()
        self.assertTrue(counters.flush())
        self.assertEqual(counters.totals()[keys.STATS]["errors"], 1)

    def test_it_retries_an_undelivered_invalidation_before_reading_again(self):
        self.assertEqual(self.lookup(Fetch("v1")), "v1")
        proxy = CountingCache(caches["default"], fail={"incr", "set"})
        with mock.patch.object(cache_aside, "caches", {"default": proxy}), self.assertLogs("cachemon", "ERROR"):
            with self.captureOnCommitCallbacks(execute=True):
                cache_aside.invalidate(keys.STATS, church_id=self.grace.id)
        self.assertEqual(cache_aside._pending_bumps, {(keys.STATS, keys.church_scope(self.grace.id))})

        breaker.reset()  # the cache is back
        self.assertEqual(self.lookup(Fetch("v2")), "v2")
        self.assertEqual(cache_aside._pending_bumps, set())


@pytest.mark.slow
class PrivateRedisOutageTestCase(FlockTestCase):
    """A redis-server of our own that we kill, restart and put to sleep (DEBUG SLEEP)."""

    def setUp(self):
        self.server = RedisServer()
        self.server.start()
        self.addCleanup(self.server.cleanup)
        self.settings_override = override_settings(CACHES=redis_caches(self.server.url), CACHE_BREAKER_COOLDOWN=60)
        self.settings_override.enable()
        self.addCleanup(self.settings_override.disable)

    def lookup(self, fetch):
        return cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=fetch, ttl=60)

    def test_it_survives_a_killed_redis_and_recovers_after_the_cooldown(self):
        self.assertEqual(self.lookup(Fetch("v1")), "v1")
        self.assertEqual(self.lookup(Fetch("unused")), "v1")  # a hit

        self.server.stop()
        fetch = Fetch("from-db")
        proxy, patch = counting(caches["default"])
        with patch, self.assertLogs("cachemon", "ERROR") as errors:
            for _ in range(5):
                self.assertEqual(self.lookup(fetch), "from-db")
        self.assertEqual((fetch.calls, len(proxy.calls), len(errors.records)), (5, 1, 1))

        self.server.start()  # same port, empty
        with override_settings(CACHE_BREAKER_COOLDOWN=0.05), self.assertLogs("cachemon", "WARNING") as recovered:
            breaker.record_failure(ConnectionError("still down"))  # re-arm with the short cooldown
            time.sleep(0.1)
            self.assertEqual(self.lookup(Fetch("v2")), "v2")  # the trial: a miss, stored
        self.assertEqual(breaker.state, CLOSED)
        self.assertEqual([r.getMessage() for r in recovered.records if r.levelname == "WARNING"],
                         ["cache recovered; reads use the cache again"])
        self.assertEqual(self.lookup(Fetch("unused")), "v2")  # served from Redis again

        # The outage's errors were kept in-process and reached the restarted server (the counts
        # flushed before the kill lived in that server's memory, gone with it: no persistence).
        self.assertEqual(counters.totals()[keys.STATS]["errors"], 5)

    def test_it_survives_a_slow_redis(self):
        self.assertEqual(self.lookup(Fetch("v1")), "v1")
        # The server sleeps longer than the request's socket timeouts (and any client retry).
        sleeper = threading.Thread(target=lambda: self.server.client().execute_command("DEBUG", "SLEEP", "3"))
        sleeper.start()
        self.addCleanup(sleeper.join)
        time.sleep(0.2)  # let DEBUG SLEEP begin

        fetch = Fetch("from-db")
        proxy, patch = counting(caches["default"])
        with patch, self.assertLogs("cachemon", "ERROR") as errors:
            for _ in range(5):
                self.assertEqual(self.lookup(fetch), "from-db")
        self.assertEqual((fetch.calls, len(proxy.calls), len(errors.records)), (5, 1, 1))
        self.assertIn("Timeout", breaker.last_error)

        sleeper.join()
        with override_settings(CACHE_BREAKER_COOLDOWN=0.05), self.assertLogs("cachemon", "WARNING"):
            breaker.record_failure(TimeoutError("slow"))
            time.sleep(0.1)
            self.assertEqual(self.lookup(Fetch("unused")), "v1")  # the value survived: a hit
        self.assertEqual(breaker.state, CLOSED)
