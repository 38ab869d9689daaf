"""A cache that is gone (a dead port, injected failures): fetch answers, the error is counted and
logged once, the breaker spares requests while open and lets one trial through per cooldown.
(A real redis-server killed, restarted and slowed down: test_redis_outage.py.)"""

from __future__ import annotations

import time
from unittest import mock

from django.core.cache import caches
from django.test import override_settings

from cachemon import cache_aside, counters, keys
from cachemon.breaker import HALF_OPEN, OPEN, breaker
from tests.base import FlockTestCase

from .support import CountingCache, dead_redis_caches, fast_passwords


class Fetch:
    def __init__(self, value="from-db"):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def counting(cache) -> tuple[CountingCache, mock._patch]:
    proxy = CountingCache(cache)
    return proxy, mock.patch.object(cache_aside, "caches", {"default": proxy})


@fast_passwords
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
                # Half-open: the first request is the trial, the next ones keep skipping. (The
                # failed trial reopens for a long cooldown, so a slow machine cannot reach a
                # second trial within these five lookups.)
                with override_settings(CACHE_BREAKER_COOLDOWN=60):
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
