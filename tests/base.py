"""Shared test fixtures: two churches and a named user per role.

- alice: staff of Grace Church (the church under test)
- bob: another staff account of Grace Church
- charlie: staff of Hope Chapel (another tenant: sees none of Grace's data)
- dana: platform admin (Django `is_staff` + superuser, no church)
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.test import TestCase

from cachemon import cache_aside
from members.models import Church, User

PASSWORD = "correct-horse-battery"


def clear_caches() -> None:
    """Remove this test run's cache entries (by key prefix only) and reset per-process state."""
    for alias in settings.CACHES:
        cache = caches[alias]
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()
    cache_aside.breaker.reset()
    cache_aside._pending_bumps.clear()
    from cachemon import counters

    counters._pending.clear()


class FlockTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.grace = Church.objects.create(name="Grace Church", slug="grace")
        cls.hope = Church.objects.create(name="Hope Chapel", slug="hope")
        cls.alice = User.objects.create_user("alice", "alice@grace.test", PASSWORD, church=cls.grace)
        cls.bob = User.objects.create_user("bob", "bob@grace.test", PASSWORD, church=cls.grace)
        cls.charlie = User.objects.create_user("charlie", "charlie@hope.test", PASSWORD, church=cls.hope)
        cls.dana = User.objects.create_superuser("dana", "dana@flock.test", PASSWORD)

    def login(self, user: User) -> None:
        self.client.force_login(user)
