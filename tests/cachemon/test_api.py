"""The admin JSON API: /api/admin/cache/metrics, /health, /reset."""

from __future__ import annotations

from unittest import mock

from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, override_settings

from cachemon import cache_aside, counters, keys
from members.models import User
from tests.base import PASSWORD, FlockTestCase

from .support import dead_redis_caches, fast_passwords

METRICS = "/api/admin/cache/metrics"
HEALTH = "/api/admin/cache/health"
RESET = "/api/admin/cache/reset"
# 28333333 minutes and 15 seconds since the epoch: 45 s left in the rate-limit window.
FIXED_NOW = 60 * 28_333_333 + 15


def lookup(church_id: int, value="v"):
    return cache_aside.cached(keys.STATS, church_id=church_id, parts=("summary",), fetch=lambda: value, ttl=60)


@fast_passwords
class CacheApiTestCase(FlockTestCase):
    def test_it_refuses_anonymous_with_403_json(self):
        for url in (METRICS, HEALTH):
            r = self.client.get(url)
            self.assertEqual(r.status_code, 403, url)
            self.assertEqual(r.json(), {"error": "authentication required"})
        self.assertEqual(self.client.post(RESET).status_code, 403)

    def test_it_refuses_church_staff(self):
        for user in (self.alice, self.charlie):
            self.login(user)
            for url in (METRICS, HEALTH):
                r = self.client.get(url)
                self.assertEqual(r.status_code, 403, (user, url))
                self.assertEqual(r.json(), {"error": "platform admins only"})
            self.assertEqual(self.client.post(RESET).status_code, 403)

    def test_it_refuses_an_inactive_admin(self):
        User.objects.filter(pk=self.dana.pk).update(is_active=False)
        self.client.force_login(User.objects.get(pk=self.dana.pk))
        self.assertIn(self.client.get(METRICS).status_code, (302, 403))

    def test_it_shows_metrics_to_a_platform_admin(self):
        lookup(self.grace.id)
        lookup(self.grace.id)
        lookup(self.grace.id)
        self.login(self.dana)
        self.client.get(HEALTH)  # the first request caches the admin's user
        with self.assertNumQueries(0):  # a warm request: session, user and counters from the cache
            r = self.client.get(METRICS)
        self.assertEqual(r.status_code, 200)
        data = r.json()
        self.assertEqual(data["namespaces"]["users"], {"hits": 1, "misses": 1, "errors": 0, "hit_ratio": 0.5})
        self.assertEqual(data["namespaces"]["stats"], {"hits": 2, "misses": 1, "errors": 0, "hit_ratio": 0.6667})
        self.assertIsNone(data["namespaces"]["rosters"]["hit_ratio"])
        self.assertEqual(data["total"]["hits"], 2 + data["namespaces"]["users"]["hits"])
        self.assertEqual(data["breaker"]["state"], "closed")
        self.assertTrue(data["cache_aside"])
        self.assertEqual(r["Cache-Control"], "max-age=0, no-cache, no-store, must-revalidate, private")
        if data["backend"] == "redis":
            for field in ("used_memory", "used_memory_human", "connected_clients", "evicted_keys", "keyspace_hits",
                          "keyspace_misses", "instantaneous_ops_per_sec", "uptime_in_seconds"):
                self.assertIn(field, data["redis"])
            self.assertGreater(data["redis"]["used_memory"], 0)
            self.assertIsNone(data["embedded"])
        else:
            self.assertEqual(data["backend"], "diskcache")
            self.assertGreater(data["embedded"]["volume_bytes"], 0)
            self.assertGreater(data["embedded"]["entries"], 0)
            self.assertEqual(data["embedded"]["size_limit_bytes"], 2**30)  # the configured total
            self.assertIsNone(data["redis"])

    def test_it_reports_health(self):
        self.login(self.dana)
        r = self.client.get(HEALTH)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["status"], "ok")
        self.assertGreaterEqual(r.json()["latency_ms"], 0)

    def test_it_answers_503_when_the_cache_is_dead(self):
        with override_settings(CACHES=dead_redis_caches()), self.assertLogs("cachemon", "ERROR"):
            self.login(self.dana)
            health = self.client.get(HEALTH)
            metrics = self.client.get(METRICS)
        self.assertEqual(health.status_code, 503)
        self.assertEqual(health.json()["status"], "error")
        self.assertIn("Connection", health.json()["error"])
        self.assertEqual(metrics.status_code, 503)
        self.assertIn("cannot be read", metrics.json()["error"])
        self.assertEqual(metrics.json()["breaker"]["state"], "open")

    def test_it_rejects_get_on_reset_and_post_on_metrics(self):
        self.login(self.dana)
        self.assertEqual(self.client.get(RESET).status_code, 405)
        self.assertEqual(self.client.post(METRICS).status_code, 405)

    def test_it_requires_csrf_to_reset(self):
        lookup(self.grace.id)
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.dana)
        self.assertEqual(client.post(RESET).status_code, 403)
        self.assertEqual(counters.totals()["stats"]["misses"], 1)  # nothing reset

        token = _get_new_csrf_string()
        client.cookies["csrftoken"] = token
        r = client.post(RESET, HTTP_X_CSRFTOKEN=token)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"status": "ok", "reset": "counters"})
        self.assertEqual(counters.totals()["stats"], {"hits": 0, "misses": 0, "errors": 0})
        # Only counters: the cached value and the admin's session survive.
        self.assertEqual(lookup(self.grace.id, value="recomputed"), "v")
        self.assertEqual(client.get(METRICS).status_code, 200)

    @override_settings(ADMIN_API_RATE_PER_MINUTE=3)
    def test_it_rate_limits_each_admin(self):
        erin = User.objects.create_user("erin", "erin@flock.test", PASSWORD, is_staff=True)
        self.login(self.dana)
        with mock.patch("cachemon.services.time.time", return_value=FIXED_NOW):
            statuses = [self.client.get(METRICS).status_code for _ in range(3)]
            limited = self.client.get(HEALTH)
            other = Client()
            other.force_login(erin)
            erin_status = other.get(METRICS).status_code
        self.assertEqual(statuses, [200, 200, 200])
        self.assertEqual(limited.status_code, 429)
        self.assertEqual(limited["Retry-After"], "45")
        self.assertEqual(limited.json()["retry_after"], 45)
        self.assertIn("at most 3 a minute", limited.json()["error"])
        self.assertEqual(erin_status, 200)  # per admin, not global
        # The next window starts afresh.
        with mock.patch("cachemon.services.time.time", return_value=FIXED_NOW + 60):
            self.assertEqual(self.client.get(METRICS).status_code, 200)
