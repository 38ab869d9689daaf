"""Hit/miss/error counters: exact per namespace, summed over processes, kept at worker exit."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from cachemon import cache_aside, counters, keys, selectors
from tests.base import FlockTestCase

from .support import run_workers


def lookup(namespace: str, church_id: int, *parts, value="v"):
    return cache_aside.cached(namespace, church_id=church_id, parts=parts, fetch=lambda: value, ttl=60)


class CountersTestCase(FlockTestCase):
    def test_it_counts_hits_and_misses_per_namespace(self):
        for _ in range(3):
            lookup(keys.STATS, self.grace.id, "summary")
        lookup(keys.MEMBERS, self.grace.id, "page", 1)
        lookup(keys.MEMBERS, self.hope.id, "page", 1)

        totals = counters.totals()
        self.assertEqual(totals[keys.STATS], {"hits": 2, "misses": 1, "errors": 0})
        self.assertEqual(totals[keys.MEMBERS], {"hits": 0, "misses": 2, "errors": 0})
        self.assertEqual(totals[keys.ROSTERS], {"hits": 0, "misses": 0, "errors": 0})

    def test_it_computes_hit_ratios_null_without_lookups(self):
        for _ in range(4):
            lookup(keys.STATS, self.grace.id, "summary")

        figures = selectors.cache_totals_get()
        self.assertEqual(figures["namespaces"][keys.STATS]["hit_ratio"], 0.75)
        self.assertIsNone(figures["namespaces"][keys.GROUPS]["hit_ratio"])
        self.assertEqual(figures["total"], {"hits": 3, "misses": 1, "errors": 0, "hit_ratio": 0.75})

    def test_it_keeps_counts_pending_until_flushed(self):
        counters.count(keys.STATS, "hits")
        self.assertEqual(counters._pending[keys.metrics_field(keys.STATS, "hits")], 1)
        self.assertTrue(counters.flush(force=True))
        self.assertEqual(dict(counters._pending), {})
        self.assertEqual(counters.totals()[keys.STATS]["hits"], 1)

    def test_it_resets_only_the_counter_keys(self):
        lookup(keys.STATS, self.grace.id, "summary")
        caches["sessions"].set("some-session", "alive")

        counters.reset()

        self.assertEqual(counters.totals()[keys.STATS], {"hits": 0, "misses": 0, "errors": 0})
        # Cached data and sessions are still there: the next read is a hit, without fetch.
        self.assertEqual(lookup(keys.STATS, self.grace.id, "summary", value="recomputed"), "v")
        self.assertEqual(caches["sessions"].get("some-session"), "alive")


@pytest.mark.slow
class CountersAcrossProcessesTestCase(FlockTestCase):
    def test_it_sums_exactly_over_processes_including_exiting_workers(self):
        n = 60
        # Two exit normally (atexit flush), one like a Gunicorn worker (worker_exit hook + os._exit).
        run_workers([["1", str(n), "atexit"], ["2", str(n), "atexit"], ["3", str(n), "worker_exit"]])

        totals = counters.totals()
        self.assertEqual(totals[keys.STATS], {"hits": 3 * (n - 1), "misses": 3, "errors": 0})
        self.assertEqual(totals[keys.GROUPS], {"hits": 0, "misses": 3 * n, "errors": 0})
        self.assertEqual(totals[keys.MEMBERS], {"hits": 0, "misses": 0, "errors": 3 * n})
