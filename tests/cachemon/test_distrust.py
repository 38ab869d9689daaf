"""cachemon.distrust: lost session/user cache writes raise a shared watermark in the database,
and cached sessions/users older than it are not believed (the real Redis pause:
tests/ops/test_lost_cache_writes.py)."""

from __future__ import annotations

from unittest import mock

from django.core.cache import caches
from django.test import override_settings

from cachemon import distrust
from cachemon.breaker import breaker
from cachemon.models import CacheDistrust
from cachemon.sessions import SessionStore
from tests.base import FlockTestCase
from tests.cachemon.test_sessions import BrokenCache


class DistrustTestCase(FlockTestCase):
    def test_it_records_a_failed_or_skipped_session_delete(self):
        store = SessionStore()
        store["x"] = 1
        store.save()
        with mock.patch("django.contrib.sessions.backends.cached_db.caches", {"sessions": BrokenCache()}):
            SessionStore(store.session_key).delete()  # raises inside: a failed delete
        until = CacheDistrust.objects.get(pk=1).until
        self.assertGreater(until, distrust.time.time())
        distrust.assume(0.0)
        CacheDistrust.objects.all().delete()
        breaker.record_failure(ConnectionError("down"))  # open: the next delete is skipped
        SessionStore(store.session_key).delete()
        self.assertTrue(CacheDistrust.objects.filter(pk=1).exists())

    def test_it_refuses_cached_sessions_older_than_the_watermark(self):
        store = SessionStore()
        store["x"] = 1
        store.save()
        self.assertEqual(SessionStore(store.session_key).load(), {"x": 1})
        distrust.assume(distrust.time.time() + 5)
        with self.assertNumQueries(1):  # the database decides, and the entry is cached afresh
            self.assertEqual(SessionStore(store.session_key).load(), {"x": 1})
        distrust.assume(distrust.time.time() - 60)
        with self.assertNumQueries(0):
            self.assertEqual(SessionStore(store.session_key).load(), {"x": 1})

    def test_it_writes_the_row_at_most_once_per_margin_while_writes_keep_failing(self):
        distrust.record("test")  # (the row is made by the migration; flushed here, it is made again)
        self.assertGreater(CacheDistrust.objects.get(pk=1).until, distrust.time.time())
        with self.assertNumQueries(0):
            for _ in range(50):
                distrust.record("test")
        with mock.patch.object(distrust.time, "time", return_value=distrust.time.time() + distrust.MARGIN + 1):
            with self.assertNumQueries(1):
                distrust.record("test")

    @override_settings(CACHE_DISTRUST_POLL_SECONDS=1.0)
    def test_it_reads_the_watermark_at_most_once_per_poll_interval(self):
        distrust.assume(0.0, for_seconds=0)
        CacheDistrust.objects.update_or_create(pk=1, defaults={"until": 123.0})
        with self.assertNumQueries(1):
            for _ in range(20):
                self.assertEqual(distrust.watermark(), 123.0)
        with mock.patch.object(distrust.time, "monotonic", return_value=distrust.time.monotonic() + 1.5):
            with self.assertNumQueries(1):
                distrust.watermark()

    def test_it_stamps_sessions_in_the_cache_without_showing_the_stamp(self):
        store = SessionStore()
        store["x"] = 1
        store.save()
        self.assertIn("_flock_cached_at", caches["sessions"].get(store.cache_key))
        self.assertNotIn("_flock_cached_at", SessionStore(store.session_key).load())
