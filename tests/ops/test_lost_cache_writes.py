"""A logout (and a password change) ends the session for good even when Redis lost the write.

A private redis-server (tests/ops/procs.py: never the shared one) is paused with
`CLIENT PAUSE 1500 ALL` while a user logs out or changes password: the Redis delete (or the
user's invalidation) times out and is lost, the cached session stays in Redis. Once Redis
answers again, the old cookie is replayed as another process would (its own breaker closed,
no pending retries, the watermark read afresh from the database): it must be logged out
(cachemon.distrust).
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

from cachemon import cache_aside, distrust
from members.models import User
from tests.base import PASSWORD, FlockTestCase, clear_caches
from tests.ops import procs

pytestmark = [pytest.mark.slow, procs.once]
PAUSE_MS = 1500


def redis_caches(url: str) -> dict:
    from churchapp.settings import _redis_cache  # the project's own options (timeouts, no ignored errors)

    default, sessions = _redis_cache("flocklost"), _redis_cache("flocklost-session")
    default["LOCATION"] = sessions["LOCATION"] = url
    return {"default": default, "sessions": sessions}


def as_another_process() -> None:
    """What a process that did not see the lost write knows: nothing pending, breaker closed,
    and the watermark to be read from the database."""
    cache_aside.breaker.reset()
    cache_aside._pending_bumps.clear()
    distrust.assume(0.0, for_seconds=0)


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class LostCacheWritesTestCase(FlockTestCase):
    def setUp(self) -> None:
        self.redis = procs.RedisServer().start()
        self.addCleanup(self.redis.stop)
        overridden = override_settings(CACHES=redis_caches(self.redis.url), REDIS_URL=self.redis.url)
        overridden.enable()
        self.addCleanup(overridden.disable)
        clear_caches()

    def log_in(self) -> Client:
        client = Client()
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/members/"})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(client.get("/members/").status_code, 200)  # session and user now cached
        return client

    def pause_redis(self) -> None:
        self.redis.client().execute_command("CLIENT", "PAUSE", str(PAUSE_MS), "ALL")

    def wait_for_redis(self) -> None:
        # PING waits out the pause (it is a command too), then answers.
        procs.wait_for(lambda: self.redis.client().ping(), timeout=10, what="the paused Redis to answer")

    def session_keys(self) -> list[bytes]:
        return self.redis.client().keys("flocklost-session:*")

    def test_it_keeps_a_logout_during_a_redis_pause(self):
        client = self.log_in()
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        self.assertEqual(len(self.session_keys()), 1)
        self.pause_redis()
        client.post("/accounts/logout/")
        self.wait_for_redis()
        self.assertEqual(len(self.session_keys()), 1, "the delete was not lost: this test proves nothing")
        as_another_process()
        replay = Client()
        replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
        response = replay.get("/members/")
        self.assertEqual(response.status_code, 302, "the old cookie works again once Redis answers")
        self.assertTrue(response["Location"].startswith("/accounts/login/"))
        self.assertEqual(self.session_keys(), [])  # the stale copy is gone too
        # And it stays so: later requests (the watermark known) still refuse it.
        self.assertEqual(replay.get("/members/").status_code, 302)

    def test_it_keeps_a_password_change_during_a_redis_pause(self):
        client, other = self.log_in(), self.log_in()
        self.pause_redis()
        alice = User.objects.get(username="alice")
        with self.captureOnCommitCallbacks(execute=True):  # the user's invalidation, lost in the pause
            alice.set_password("a-new-long-passphrase")
            alice.save()
        self.wait_for_redis()
        as_another_process()
        self.assertEqual(other.get("/members/").status_code, 302, "a session of the old password still works")
        self.assertEqual(client.get("/members/").status_code, 302)

    def test_it_costs_nothing_while_no_write_was_lost(self):
        client = self.log_in()
        client.get("/dashboard/")
        distrust.assume(0.0)  # known and fresh: no write was lost
        with self.assertNumQueries(0):
            self.assertEqual(client.get("/dashboard/").status_code, 200)
