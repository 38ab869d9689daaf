"""Hit/miss/error counters: exact per namespace, hit ratios, pending counts, reset."""

from __future__ import annotations

from django.core.cache import caches

from cachemon import cache_aside, counters, keys, selectors
from tests.base import FlockTestCase

from .support import fast_passwords


def lookup(namespace: str, church_id: int, *parts, value="v"):
    return cache_aside.cached(namespace, church_id=church_id, parts=parts, fetch=lambda: value, ttl=60)


@fast_passwords
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
