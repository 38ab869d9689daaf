"""SESSION_STORE: sessions in the cache in front of the database (the default) or in the database alone."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import override_settings

from tests.base import PASSWORD, FlockTestCase

PRINT_ENGINE = "import django; django.setup(); from django.conf import settings; print(settings.SESSION_ENGINE)"


def settings_with(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRINT_ENGINE], cwd=settings.BASE_DIR, capture_output=True, text=True,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "churchapp.settings", **env}, timeout=60)


class SessionStoreSettingTestCase(FlockTestCase):
    def test_it_keeps_sessions_in_the_cache_by_default(self):
        env = {k: v for k, v in os.environ.items() if k != "SESSION_STORE"}
        res = subprocess.run([sys.executable, "-c", PRINT_ENGINE], cwd=settings.BASE_DIR, capture_output=True,
                             text=True, env={**env, "DJANGO_SETTINGS_MODULE": "churchapp.settings"}, timeout=60)
        self.assertEqual(res.stdout.strip(), "cachemon.sessions", res.stderr)

    def test_it_selects_database_sessions(self):
        res = settings_with(SESSION_STORE="Database")
        self.assertEqual(res.stdout.strip(), "django.contrib.sessions.backends.db", res.stderr)

    def test_it_rejects_nonsense_loudly(self):
        res = settings_with(SESSION_STORE="redis-ish")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("SESSION_STORE must be one of cache, database; got 'redis-ish'", res.stderr)

    @override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db")
    def test_it_serves_pages_from_a_database_session_with_nothing_in_the_cache(self):
        response = self.client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        self.assertEqual(response.status_code, 302)
        key = self.client.cookies[settings.SESSION_COOKIE_NAME].value
        self.assertTrue(Session.objects.filter(session_key=key).exists())
        self.assertIsNone(caches["sessions"].get(f"django.contrib.sessions.cached_db{key}"))
        self.assertEqual(self.client.get("/dashboard/").status_code, 200)
