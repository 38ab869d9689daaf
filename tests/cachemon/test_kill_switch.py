"""CACHE_ASIDE=off: the helper neither reads nor writes the cache; invalidations still go out."""

from __future__ import annotations

from unittest import mock

from django.core.cache import caches
from django.test import override_settings

from cachemon import cache_aside, counters, keys
from tests.base import FlockTestCase

from .support import CountingCache, fast_passwords


@fast_passwords
class KillSwitchTestCase(FlockTestCase):
    def lookup(self, fetch):
        return cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("summary",), fetch=fetch, ttl=60)

    @override_settings(CACHE_ASIDE=False)
    def test_it_calls_fetch_every_time_and_never_the_cache(self):
        fetch = mock.Mock(side_effect=["a", "b", "c"])
        proxy = CountingCache(caches["default"])
        with mock.patch.object(cache_aside, "caches", {"default": proxy}):
            values = [self.lookup(fetch) for _ in range(3)]
            user = cache_aside.cached_user(self.alice.id, fetch=lambda: "alice")

        self.assertEqual(values, ["a", "b", "c"])
        self.assertEqual(fetch.call_count, 3)
        self.assertEqual(user, "alice")
        self.assertEqual(proxy.calls, [])
        self.assertEqual(counters.totals()[keys.STATS], {"hits": 0, "misses": 0, "errors": 0})

    def test_it_still_invalidates_while_off_so_turning_it_on_is_safe(self):
        self.assertEqual(self.lookup(lambda: "before"), "before")
        with override_settings(CACHE_ASIDE=False), self.captureOnCommitCallbacks(execute=True):
            cache_aside.invalidate(keys.STATS, church_id=self.grace.id)  # a write while switched off
        self.assertEqual(self.lookup(lambda: "after"), "after")
