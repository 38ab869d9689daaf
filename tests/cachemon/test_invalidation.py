"""No stale read after a write: on-commit generation bumps, the cache-aside race, O(1) bulk."""

from __future__ import annotations

from unittest import mock

import pytest

from django.core.cache import caches
from django.db import transaction

from cachemon import cache_aside, keys
from members.models import Member
from tests.base import FlockTestCase

from .support import CountingCache, fast_passwords


@fast_passwords
class InvalidationTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.ruth = Member.objects.create(church=cls.grace, first_name="Ruth", last_name="Moab")

    def first_name(self) -> str:
        """A selector-like read: Ruth's first name through the cache."""
        return cache_aside.cached(
            keys.MEMBERS, church_id=self.grace.id, parts=("member", self.ruth.id),
            fetch=lambda: Member.objects.get(pk=self.ruth.id).first_name, ttl=60,
        )

    def rename(self, name: str) -> None:
        """A service-like write: the row and its invalidation, in one transaction."""
        with transaction.atomic():
            Member.objects.filter(pk=self.ruth.id).update(first_name=name)
            cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.grace.id)

    def test_it_reads_fresh_after_a_committed_write(self):
        self.assertEqual(self.first_name(), "Ruth")
        with self.captureOnCommitCallbacks(execute=True):
            self.rename("Naomi")
        self.assertEqual(self.first_name(), "Naomi")

    def test_it_invalidates_only_on_commit(self):
        self.assertEqual(self.first_name(), "Ruth")
        gen_key = keys.generation(keys.MEMBERS, keys.church_scope(self.grace.id))
        before = caches["default"].get(gen_key)
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            self.rename("Naomi")
            # Not committed yet: the cache is untouched.
            self.assertEqual(caches["default"].get(gen_key), before)
        self.assertEqual(len(callbacks), 1)
        callbacks[0]()  # the commit
        self.assertEqual(caches["default"].get(gen_key), before + 1)
        self.assertEqual(self.first_name(), "Naomi")

    def test_it_leaves_the_cache_alone_when_the_write_rolls_back(self):
        self.assertEqual(self.first_name(), "Ruth")
        proxy = CountingCache(caches["default"])
        with mock.patch.object(cache_aside, "caches", {"default": proxy}):
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                with self.assertRaises(RuntimeError), transaction.atomic():
                    Member.objects.filter(pk=self.ruth.id).update(first_name="Naomi")
                    cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.grace.id)
                    raise RuntimeError("the write failed")
        self.assertEqual(callbacks, [])
        self.assertEqual(proxy.calls, [])
        with mock.patch.object(Member.objects, "get", side_effect=AssertionError("should be a hit")):
            self.assertEqual(self.first_name(), "Ruth")

    def test_it_closes_the_read_write_race(self):
        """Reader reads the DB, writer commits + invalidates, reader stores its old value."""

        def reader_fetch():
            old = Member.objects.get(pk=self.ruth.id).first_name  # 1. the reader reads the DB
            with self.captureOnCommitCallbacks(execute=True):  # 2. a writer commits + invalidates
                self.rename("Naomi")
            return old  # 3. the reader stores what it read: now stale

        stale = cache_aside.cached(keys.MEMBERS, church_id=self.grace.id, parts=("member", self.ruth.id),
                                   fetch=reader_fetch, ttl=60)
        self.assertEqual(stale, "Ruth")  # that request itself began before the write
        self.assertEqual(self.first_name(), "Naomi")  # every later read is fresh
        self.assertEqual(self.first_name(), "Naomi")

    def test_it_keeps_tenants_apart(self):
        self.assertEqual(self.first_name(), "Ruth")
        hope_value = cache_aside.cached(keys.MEMBERS, church_id=self.hope.id, parts=("member", self.ruth.id),
                                        fetch=lambda: "hope's own", ttl=60)
        self.assertEqual(hope_value, "hope's own")
        with self.captureOnCommitCallbacks(execute=True):
            cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.hope.id)
        with mock.patch.object(Member.objects, "get", side_effect=AssertionError("grace should be a hit")):
            self.assertEqual(self.first_name(), "Ruth")

    def test_it_survives_a_lost_generation(self):
        self.assertEqual(self.first_name(), "Ruth")
        Member.objects.filter(pk=self.ruth.id).update(first_name="Naomi")
        # Eviction or a restart lost the generation (and a bump then went nowhere).
        caches["default"].delete(keys.generation(keys.MEMBERS, keys.church_scope(self.grace.id)))
        self.assertEqual(self.first_name(), "Naomi")

    def test_it_invalidates_a_5000_row_write_in_constant_cache_calls(self):
        def calls_for(rows: int) -> CountingCache:
            proxy = CountingCache(caches["default"])
            with mock.patch.object(cache_aside, "caches", {"default": proxy}):
                with self.captureOnCommitCallbacks(execute=True), transaction.atomic():
                    Member.objects.bulk_create(
                        [Member(church=self.grace, first_name=f"P{rows}-{i}", last_name="Bulk") for i in range(rows)],
                        batch_size=1000,
                    )
                    cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.grace.id)
            return proxy

        calls_for(1)  # the first write also creates the generations; compare steady state
        one, bulk = calls_for(1), calls_for(5000)
        self.assertEqual(Member.objects.filter(last_name="Bulk").count(), 5002)
        self.assertEqual(bulk.calls, one.calls)
        # One INCR per namespace the write makes stale; never a key scan.
        self.assertEqual(bulk.counts["incr"], len(keys.MEMBER_WRITE))
        self.assertEqual(len(bulk.calls), len(keys.MEMBER_WRITE))
        for scan in ("keys", "iter_keys", "delete_pattern", "delete_many", "clear"):
            self.assertNotIn(scan, bulk.calls)

    @pytest.mark.redis
    def test_it_sends_constant_redis_commands_for_a_bulk_write(self):
        import redis

        def commands_for(rows: int) -> list[str]:
            sent: list[str] = []
            original = redis.Redis.execute_command

            def spy(client, *args, **kwargs):
                sent.append(str(args[0]).upper())
                return original(client, *args, **kwargs)

            with mock.patch.object(redis.Redis, "execute_command", spy):
                with self.captureOnCommitCallbacks(execute=True), transaction.atomic():
                    Member.objects.bulk_create(
                        [Member(church=self.grace, first_name=f"R{rows}-{i}", last_name="Bulk") for i in range(rows)],
                        batch_size=1000,
                    )
                    cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.grace.id)
            return sent

        commands_for(1)
        one, bulk = commands_for(1), commands_for(5000)
        self.assertEqual(bulk, one)
        self.assertTrue(bulk)
        self.assertLessEqual(len(bulk), 3 * len(keys.MEMBER_WRITE))
        self.assertFalse({"KEYS", "SCAN", "FLUSHDB", "FLUSHALL"} & set(bulk))
