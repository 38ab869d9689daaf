"""Every login surface is throttled by the one mechanism (members.login + members.auth).

The surfaces are found at runtime: every URL pattern without path arguments (the admin's
included) gets an anonymous POST of a username and a wrong password, and those where Django
sent `user_login_failed` (i.e. that called `authenticate()`) are login surfaces. Each must
then lock an account out after LOGIN_FAILURE_LIMIT failures however the username was typed
(look-alikes count against the account), refuse the right password while locked (429 with
Retry-After), and lock out an address after LOGIN_FAILURE_LIMIT_PER_IP failures.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import given, settings as hypothesis_settings, strategies as st
from hypothesis.extra.django import SimpleTestCase

from members.login import throttle_username
from tests.base import PASSWORD, FlockTestCase, clear_caches

# Ways to type "dana" that authentication maps onto the account (or, for the capitals, that
# name the same person): each must count against the one counter.
LOOK_ALIKES = ("ｄａｎａ", "DANA", " dana", "dana\u3000", "Dana", "dana")


def login_surface_candidates() -> list[tuple[str, str]]:
    """(namespaced name, route) of every URL pattern without path arguments."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
            elif isinstance(entry, URLPattern) and entry.name and not getattr(entry.pattern, "converters", {}):
                if "<" in route or "(?P" in route:
                    continue  # a regex pattern with arguments (the admin's app index)
                found.append((namespace + entry.name, route))

    walk(get_resolver().url_patterns, "", "")
    return found


@override_settings(
    LOGIN_FAILURE_LIMIT=5, LOGIN_FAILURE_LIMIT_PER_IP=20, LOGIN_FAILURE_WINDOW=900,
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)
class LoginSurfacesTestCase(FlockTestCase):
    def surfaces(self) -> list[str]:
        fired: list[object] = []

        def note(sender, credentials, request=None, **kwargs):
            fired.append(request)

        user_login_failed.connect(note)
        found = []
        try:
            for i, (name, _) in enumerate(login_surface_candidates()):
                url = reverse(name)
                del fired[:]
                self.client.post(url, {"username": "nobody", "password": "wrong", "email": "nobody@flock.test"},
                                 REMOTE_ADDR=f"198.18.{i // 250}.{i % 250 + 1}")
                if fired:
                    found.append(url)
        finally:
            user_login_failed.disconnect(note)
            clear_caches()
        return found

    def post(self, url: str, username: str, password: str, ip: str = "203.0.113.7"):
        return self.client.post(url, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)

    def assert_logged_in(self, response, url: str) -> None:
        self.assertEqual(response.status_code, 302, f"{url}: the right password did not log in")
        self.assertIn("_auth_user_id", self.client.session)
        self.client.logout()

    def assert_locked_out(self, response, url: str) -> None:
        self.assertEqual(response.status_code, 429, url)
        self.assertGreater(int(response["Retry-After"]), 0)
        self.assertContains(response, "Too many failed login attempts", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_finds_the_staff_and_the_admin_login(self):
        self.assertEqual(set(self.surfaces()) >= {reverse("login"), reverse("admin:login")}, True)

    def test_it_locks_an_account_out_on_every_surface_however_its_name_is_typed(self):
        for url in self.surfaces():
            with self.subTest(url=url):
                clear_caches()
                self.assert_logged_in(self.post(url, "dana", PASSWORD), url)
                responses = [self.post(url, name, "wrong-password") for name in LOOK_ALIKES[:5]]
                self.assertEqual([r.status_code for r in responses[:4]], [200] * 4, url)
                self.assert_locked_out(responses[4], url)
                for name in LOOK_ALIKES:  # the right password, however typed, is refused too
                    self.assert_locked_out(self.post(url, name, PASSWORD), url)
                # Another account is not affected.
                self.assertEqual(self.post(url, "bob", "wrong-password").status_code, 200, url)

    def test_it_locks_an_address_out_on_every_surface(self):
        for url in self.surfaces():
            with self.subTest(url=url):
                clear_caches()
                for i in range(19):
                    self.assertEqual(self.post(url, f"guess{i}", "x").status_code, 200, url)
                self.assert_locked_out(self.post(url, "guess19", "x"), url)
                self.assert_locked_out(self.post(url, "dana", PASSWORD), url)
                self.assert_logged_in(self.post(url, "dana", PASSWORD, ip="198.51.100.1"), url)

    def test_it_counts_failures_on_one_surface_against_every_other(self):
        staff, admin_login = reverse("login"), reverse("admin:login")
        for _ in range(3):
            self.post(staff, "dana", "wrong-password")
        self.post(admin_login, "DANA", "wrong-password")
        self.assert_locked_out(self.post(admin_login, "ｄana", "wrong-password"), admin_login)
        self.assert_locked_out(self.post(staff, "dana", PASSWORD), staff)

    def test_it_refuses_authenticate_itself_for_a_locked_out_account(self):
        """A surface added later that calls authenticate() without these forms is throttled too."""
        request = RequestFactory().post("/somewhere/", REMOTE_ADDR="203.0.113.9")
        for _ in range(5):
            self.assertIsNone(authenticate(request, username="dana", password="wrong-password"))
        self.assertIsNone(authenticate(request, username="dana", password=PASSWORD))
        self.assertIsNone(authenticate(None, username="ＤＡＮＡ", password=PASSWORD))
        self.assertGreater(request.login_locked_for, 0)


class LoginUsernameTestCase(SimpleTestCase):
    """The throttle's counter name is the one of the account authentication will look up."""

    @hypothesis_settings(max_examples=200, derandomize=True, deadline=None, database=None)
    @given(st.text(max_size=40))
    def test_it_counts_the_username_authentication_looks_up(self, typed):
        form = AuthenticationForm(data={"username": typed, "password": "x"})
        field = form.fields["username"]
        try:
            looked_up = field.clean(typed)
        except Exception:
            return  # refused before authentication (blank, too long, a NUL): nothing to count
        self.assertEqual(throttle_username(typed), throttle_username(looked_up))
        self.assertEqual(throttle_username(looked_up), unicodedata.normalize("NFKC", throttle_username(looked_up)))
