"""The cache statistics page in the Django admin (/admin/cache/) and its reset button."""

from __future__ import annotations

import re

from django.test import Client, override_settings

from cachemon import cache_aside, counters, keys
from tests.base import FlockTestCase

from .support import dead_redis_caches, fast_passwords

PAGE = "/admin/cache/"
RESET = "/admin/cache/reset/"


def lookup(church_id: int, namespace=keys.STATS):
    return cache_aside.cached(namespace, church_id=church_id, parts=("summary",), fetch=lambda: "v", ttl=60)


@fast_passwords
class AdminCachePageTestCase(FlockTestCase):
    def row(self, html: str, namespace: str) -> str:
        match = re.search(rf'<tr data-namespace="{namespace}">(.*?)</tr>', html, re.S)
        self.assertIsNotNone(match, namespace)
        return match.group(1)

    def test_it_links_the_page_from_the_admin_index(self):
        self.login(self.dana)
        r = self.client.get("/admin/")
        self.assertContains(r, f'<a href="{PAGE}">Cache statistics</a>', html=True)

    def test_it_shows_figures_to_a_platform_admin(self):
        for _ in range(3):
            lookup(self.grace.id)  # stats: 1 miss, 2 hits
        lookup(self.grace.id, keys.GROUPS)  # groups: 1 miss
        self.login(self.dana)
        r = self.client.get(PAGE)
        self.assertEqual(r.status_code, 200)
        html = r.content.decode()
        stats = self.row(html, "stats")
        self.assertIn('<td data-figure="hits">2</td>', stats)
        self.assertIn('<td data-figure="misses">1</td>', stats)
        self.assertIn('<td data-figure="errors">0</td>', stats)
        self.assertIn('<td data-figure="hit_ratio">67%</td>', stats)
        self.assertIn('<svg class="hit-ratio"', stats)
        self.assertIn('width="107"', stats)  # 2/3 of the 160 px bar
        self.assertIn('<td data-figure="hit_ratio">0%</td>', self.row(html, "groups"))
        self.assertIn('<td data-figure="hit_ratio">—</td>', self.row(html, "rosters"))
        self.assertIn('<td data-figure="hits">2</td>', self.row(html, "total"))
        self.assertRegex(html, r'<td data-figure="health">ok \([\d.]+ ms\)</td>')
        self.assertIn('<td data-figure="breaker">closed', html)
        if "data-figure=\"backend\">redis" in html:
            self.assertIn('data-figure="used_memory"', html)
            self.assertIn('data-figure="connected_clients"', html)
        else:
            self.assertIn('data-figure="volume_bytes"', html)
        self.assertContains(r, f'action="{RESET}"')
        self.assertContains(r, "csrfmiddlewaretoken")

    def test_it_redirects_non_admins_to_the_admin_login(self):
        r = self.client.get(PAGE)
        self.assertRedirects(r, f"/admin/login/?next={PAGE}", fetch_redirect_response=False)
        for user in (self.alice, self.charlie):
            self.login(user)
            r = self.client.get(PAGE)
            self.assertRedirects(r, f"/admin/login/?next={PAGE}", fetch_redirect_response=False)
            self.client.post(RESET)
        lookup(self.grace.id)
        self.login(self.alice)
        self.client.post(RESET)
        self.assertEqual(counters.totals()["stats"]["misses"], 1)  # alice reset nothing

    def test_it_resets_the_counters_with_csrf(self):
        lookup(self.grace.id)
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.dana)
        self.assertEqual(client.post(RESET).status_code, 403)  # no token
        self.assertEqual(counters.totals()["stats"]["misses"], 1)

        page = client.get(PAGE)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
        r = client.post(RESET, {"csrfmiddlewaretoken": token})
        self.assertRedirects(r, PAGE, fetch_redirect_response=False)
        self.assertEqual(counters.totals()["stats"], {"hits": 0, "misses": 0, "errors": 0})
        self.assertContains(client.get(PAGE), "Cache counters reset.")

    def test_it_shows_the_outage_when_the_cache_is_dead(self):
        with override_settings(CACHES=dead_redis_caches()), self.assertLogs("cachemon", "ERROR"):
            self.login(self.dana)
            lookup(self.grace.id)  # opens the breaker
            r = self.client.get(PAGE)
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "The shared counters cannot be read")
        self.assertContains(r, '<td data-figure="breaker">open')
        self.assertContains(r, "error: ConnectionError")
