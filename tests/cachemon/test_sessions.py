from __future__ import annotations

from unittest import mock

from django.core.cache import caches

from cachemon.breaker import breaker
from cachemon.sessions import SessionStore
from tests.base import PASSWORD, FlockTestCase


class BrokenCache:
    """A cache whose every call fails, as a Redis that went away does."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, *args, **kwargs):
        self.calls += 1
        raise ConnectionError("redis went away")

    get = set = delete = has_key = _fail


class SessionStoreTestCase(FlockTestCase):
    def test_it_keeps_sessions_in_the_cache_and_the_database(self):
        store = SessionStore()
        store["member_id"] = 7
        store.save()
        self.assertEqual(caches["sessions"].get(store.cache_key)["member_id"], 7)
        self.assertEqual(SessionStore(store.session_key).load()["member_id"], 7)

    def test_it_reads_from_the_database_when_the_cache_fails(self):
        store = SessionStore()
        store["member_id"] = 7
        store.save()
        broken = BrokenCache()
        with mock.patch("django.contrib.sessions.backends.cached_db.caches", {"sessions": broken}):
            again = SessionStore(store.session_key)
            self.assertEqual(again.load()["member_id"], 7)
            self.assertTrue(breaker.is_open)
            # While the breaker is open no session call touches the cache (no timeout paid).
            SessionStore(store.session_key).load()
            SessionStore(store.session_key).save()
        self.assertEqual(broken.calls, 1)

    def test_it_logs_in_while_the_cache_is_down(self):
        broken = BrokenCache()
        with mock.patch("django.contrib.sessions.backends.cached_db.caches", {"sessions": broken}):
            response = self.client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
            self.assertRedirects(response, "/dashboard/", fetch_redirect_response=False)
            self.assertEqual(self.client.get("/members/").status_code, 200)
