"""/healthz, /readyz and the /metrics guard."""

from __future__ import annotations

from unittest import mock

from django.db import OperationalError, connection
from django.test import override_settings
from prometheus_client import REGISTRY

from cachemon import cache_aside, keys
from tests.base import FlockTestCase

from .support import dead_redis_caches, fast_passwords


@fast_passwords
class ProbesTestCase(FlockTestCase):
    def test_it_answers_healthz_to_anyone_without_db_or_cache(self):
        with self.assertNumQueries(0), mock.patch.object(cache_aside, "caches", {}):
            r = self.client.get("/healthz")
        self.assertEqual((r.status_code, r.content), (200, b"ok\n"))
        self.login(self.alice)
        self.assertEqual(self.client.get("/healthz").status_code, 200)

    def test_it_answers_readyz_when_database_and_cache_answer(self):
        r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"database": "ok", "cache": "ok", "failed": []})

    def test_it_names_the_dead_cache_in_readyz(self):
        with override_settings(CACHES=dead_redis_caches()), self.assertLogs("cachemon", "ERROR") as logs:
            r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 503)
        self.assertEqual(r.json(), {"database": "ok", "cache": "error", "failed": ["cache"]})
        self.assertIn("readiness: cache failed", logs.records[0].getMessage())

    def test_it_names_the_dead_database_in_readyz(self):
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")), \
                self.assertLogs("cachemon", "ERROR"):
            r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 503)
        self.assertEqual(r.json(), {"database": "error", "cache": "ok", "failed": ["database"]})
        self.assertNotIn(b"refused", r.content)  # details go to the log, not to the public

    def test_it_serves_metrics_to_loopback_without_a_token(self):
        for addr in ("127.0.0.1", "::1"):
            r = self.client.get("/metrics", REMOTE_ADDR=addr)
            self.assertEqual(r.status_code, 200, addr)
            self.assertTrue(r["Content-Type"].startswith("text/plain; version="))

    def test_it_refuses_metrics_to_other_addresses_without_a_token(self):
        self.assertEqual(self.client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code, 403)
        # Loopback through a proxy is someone else's request.
        r = self.client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
        self.assertEqual(r.status_code, 403)
        self.login(self.dana)  # being an admin is not what the guard asks
        self.assertEqual(self.client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code, 403)

    @override_settings(METRICS_TOKEN="s3cret-token")
    def test_it_requires_the_bearer_token_when_set(self):
        def get(**headers):
            return self.client.get("/metrics", REMOTE_ADDR="10.0.0.7", **headers).status_code

        self.assertEqual(get(HTTP_AUTHORIZATION="Bearer s3cret-token"), 200)
        self.assertEqual(get(HTTP_AUTHORIZATION="bearer s3cret-token"), 200)
        self.assertEqual(get(HTTP_AUTHORIZATION="Bearer wrong"), 403)
        self.assertEqual(get(HTTP_AUTHORIZATION="Bearer s3cret-token-longer"), 403)
        self.assertEqual(get(HTTP_AUTHORIZATION="Basic s3cret-token"), 403)
        self.assertEqual(get(), 403)
        # With a token set, loopback alone is not enough.
        self.assertEqual(self.client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code, 403)

    def test_it_exports_the_helper_counter_and_request_metrics(self):
        labels = {"namespace": "stats", "outcome": "misses"}
        before = REGISTRY.get_sample_value("flock_cache_aside_total", labels) or 0
        cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("x",), fetch=lambda: 1, ttl=60)
        self.client.get("/healthz")

        body = self.client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

        self.assertIn(f'flock_cache_aside_total{{namespace="stats",outcome="misses"}} {before + 1}', body)
        self.assertIn('django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",'
                      'view="healthz"}', body)
