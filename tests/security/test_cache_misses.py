"""A request for an object that does not exist (or is another church's) stores nothing in
the cache: walked over every URL pattern with an object id, so 600 requests for unknown ids
leave the number of cache keys where one left it (cachemon.cache_aside never stores None).
"""

from __future__ import annotations

from django.core.cache import caches

from cachemon import keys
from tests.base import FlockTestCase
from tests.members.test_access import VALUE_KWARGS
from tests.security.walk import WalkFixtures, all_patterns, who

UNKNOWN_ID = 10**12


def cache_key_count() -> int:
    """Keys of this test run in the default cache (Redis: by the run's key prefix), except the
    cache's own hit/miss counters (a fixed set of keys per namespace: flushed once a second)."""
    cache = caches["default"]
    if hasattr(cache, "keys"):  # django-redis
        names = cache.keys("*")
    else:  # diskcache's DjangoCache: every entry of its FanoutCache
        names = list(cache._cache)
    return sum(1 for name in names if f":{keys.METRICS_HASH}" not in f":{name}")


class CacheMissesTestCase(WalkFixtures, FlockTestCase):
    def object_urls(self, offset: int) -> list[tuple[str, str]]:
        urls = []
        for name, route, converters in all_patterns():
            object_kwargs = [k for k in converters if k not in VALUE_KWARGS]
            if object_kwargs:
                unknown = {k: UNKNOWN_ID + offset + i for i, k in enumerate(object_kwargs)}
                urls.append((self.url_for(name, converters, **unknown), route))
        return urls

    def get_all(self, offset: int) -> None:
        for url, route in self.object_urls(offset):
            self.log_in_as(who(route))
            response = self.client.get(url, {})
            self.assertIn(response.status_code, (404, 405), url)

    def test_it_stores_nothing_for_ids_that_do_not_exist(self):
        self.get_all(0)  # namespaces' generation counters may be made once: bounded
        before = cache_key_count()
        for offset in range(1, 31):
            self.get_all(offset * 10)
        self.assertEqual(cache_key_count(), before)

    def test_it_stores_nothing_for_another_churchs_ids(self):
        self.login(self.charlie)
        urls = [self.url_for(name, converters) for name, route, converters in all_patterns()
                if who(route) == "staff" and any(k not in VALUE_KWARGS for k in converters)]
        self.assertGreaterEqual(len(urls), 5)
        for url in urls:  # the cached user, and the namespaces' generation counters: made once
            self.client.get(url)
        before = cache_key_count()
        for _ in range(5):
            for url in urls:
                self.assertIn(self.client.get(url).status_code, (404, 405), url)
        self.assertEqual(cache_key_count(), before)
