"""Shared test fixtures: two churches and a named user per role.

- alice: staff of Grace Church (the church under test)
- bob: another staff account of Grace Church
- charlie: staff of Hope Chapel (another tenant: sees none of Grace's data)
- dana: platform admin (Django `is_staff` + superuser, no church)
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import caches
from django.test import TestCase

from cachemon import cache_aside, distrust
from members import tallies
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
    # No lost write known (the test database's watermark row starts empty), and none looked
    # up during the test: a test that needs it reads it explicitly (tests/cachemon/test_distrust.py).
    distrust.assume(0.0)
    from cachemon import counters

    counters._pending.clear()


def password_hash() -> str:
    # PBKDF2 is slow on purpose; hash the shared test password once per run (and per hasher
    # setting, since some tests override PASSWORD_HASHERS), not once per user.
    return _password_hash(tuple(settings.PASSWORD_HASHERS))


@functools.cache
def _password_hash(hashers: tuple[str, ...]) -> str:
    return make_password(PASSWORD)


def make_user(username: str, *, church: Church | None = None, admin: bool = False) -> User:
    return User.objects.create(
        username=username, email=f"{username}@flock.test", password=password_hash(), church=church,
        is_staff=admin, is_superuser=admin,
    )


class FlockTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.grace = Church.objects.create(name="Grace Church", slug="grace")
        cls.hope = Church.objects.create(name="Hope Chapel", slug="hope")
        cls.alice = make_user("alice", church=cls.grace)
        cls.bob = make_user("bob", church=cls.grace)
        cls.charlie = make_user("charlie", church=cls.hope)
        cls.dana = make_user("dana", admin=True)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()  # runs setUpTestData
        # Fixtures are made with the ORM directly, not through the services that keep the
        # counters (members.tallies): count them once from the rows, as seed_demo does.
        cls.recount()

    @classmethod
    def recount(cls) -> None:
        """Rebuild every church's counters from its rows: after a test writes rows with the ORM
        directly (the services keep them exact by themselves)."""
        for church_id in Church.objects.values_list("id", flat=True):
            tallies.rebuild_church(church_id)

    def login(self, user: User) -> None:
        self.client.force_login(user)


def church_day():
    """Today where the test churches are (every one is in settings.DEFAULT_CHURCH_TIME_ZONE):
    what the pages call "today" (members.timezones), whatever the time of day in UTC."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    return timezone.localtime(timezone.now(), ZoneInfo(settings.DEFAULT_CHURCH_TIME_ZONE)).date()
