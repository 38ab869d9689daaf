"""The cached logged-in user holds no password hash, and still does everything a user does.

The cache's stored values (both caches, every key of this run) are scanned for the hash after
logins and pages; the user built from the cache passes Django's session check, a password
change (which saves the user) ends its other sessions, and a page that checks the password
(the admin's password change) reads it from the database.
"""

from __future__ import annotations

import pickle

from django.conf import settings
from django.core.cache import caches
from django.test import Client, override_settings

from members.models import User
from tests.base import PASSWORD, FlockTestCase


def stored_values() -> list[bytes]:
    """Every stored value of this test run, as bytes, in both caches."""
    found = []
    for alias in settings.CACHES:
        cache = caches[alias]
        if hasattr(cache, "keys"):  # django-redis: the raw (pickled) bytes
            client = cache.client.get_client()
            for key in cache.keys("*"):
                raw = client.get(cache.make_key(key))
                if raw is not None:
                    found.append(raw)
                else:  # a hash (the cache's counters)
                    found.extend(v for v in client.hgetall(cache.make_key(key)).values())
        else:
            for key in list(cache._cache):
                found.append(pickle.dumps(cache._cache.get(key)))
    return found


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class UserCacheTestCase(FlockTestCase):
    def log_in(self, client: Client, username: str, next_url: str = "/members/") -> None:
        response = client.post("/accounts/login/", {"username": username, "password": PASSWORD, "next": next_url})
        self.assertEqual(response.status_code, 302)

    def test_it_keeps_no_password_hash_in_the_cache(self):
        self.log_in(self.client, "alice")
        for url in ("/members/", "/dashboard/", "/groups/", "/members/"):
            self.assertEqual(self.client.get(url).status_code, 200)
        admin = Client()
        self.log_in(admin, "dana", "/admin/")
        self.assertEqual(admin.get("/admin/").status_code, 200)
        values = stored_values()
        self.assertGreater(len(values), 3)
        for user in (User.objects.get(username="alice"), User.objects.get(username="dana")):
            hash_bytes = user.password.encode()
            self.assertTrue(any(b"session_auth_hash" in v for v in values))  # the user entry is there
            self.assertFalse([v for v in values if hash_bytes in v], f"{user.username}'s password hash is cached")
            self.assertFalse([v for v in values if user.password.split("$")[-1].encode() in v])

    def test_it_serves_a_warm_page_without_sql_and_passes_the_session_check(self):
        self.log_in(self.client, "alice")
        self.client.get("/dashboard/")
        with self.assertNumQueries(0):
            response = self.client.get("/dashboard/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.wsgi_request.user.username, "alice")
        self.assertEqual(response.wsgi_request.user.church.name, "Grace Church")

    def test_it_ends_other_sessions_when_the_password_changes(self):
        other = Client()
        self.log_in(self.client, "alice")
        self.log_in(other, "alice")
        self.assertEqual(other.get("/members/").status_code, 200)
        alice = User.objects.get(username="alice")
        with self.captureOnCommitCallbacks(execute=True):
            alice.set_password("a-new-long-passphrase")
            alice.save()
        self.assertEqual(other.get("/members/").status_code, 302)
        self.assertEqual(self.client.get("/members/").status_code, 302)

    def test_it_reads_the_password_from_the_database_where_a_page_checks_it(self):
        self.log_in(self.client, "dana", "/admin/")
        self.client.get("/admin/")  # the user is cached now
        with self.captureOnCommitCallbacks(execute=True):  # the user's invalidation, as in production
            response = self.client.post("/admin/password_change/", {
                "old_password": PASSWORD, "new_password1": "another-long-passphrase",
                "new_password2": "another-long-passphrase",
            })
        self.assertEqual(response.status_code, 302, response.content[:3000])
        self.assertTrue(User.objects.get(username="dana").check_password("another-long-passphrase"))
        self.assertEqual(self.client.get("/admin/").status_code, 200)  # update_session_auth_hash kept this one
