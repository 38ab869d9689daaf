"""Odd input never answers 500, on every URL pattern (walked at runtime: tests/security/walk.py).

Each query parameter a view reads (PARAMS, checked against what the view really reads) is
tried with odd values (never a 5xx) and with a NUL byte (400 with a clear message, from
security.middleware). The Django admin's changelists (every registered model) get the same
for their search, page and ordering parameters. A NUL in the path or in a posted field is a
400 too, and a cookie holding one is dropped.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from security.middleware import NUL_MESSAGE
from tests.base import FlockTestCase
from tests.security.walk import (
    NUL_VALUES, ODD_VALUES, PARAMS, WalkFixtures, all_patterns, check_params_known, recorded_params, who,
)

ADMIN_CHANGELIST_PARAMS = {"q": "gia", "p": "1", "o": "1"}


class OddInputTestCase(WalkFixtures, FlockTestCase):
    def assert_no_server_error(self, url: str, params: dict, what: str) -> None:
        try:
            response = self.client.get(url, params)
        except Exception as exc:  # the test client re-raises what the view raised: a 500
            raise AssertionError(f"GET {url} with {what} raised {type(exc).__name__}: {exc}") from exc
        self.assertLess(response.status_code, 500, f"GET {url} with {what}")

    def assert_nul_refused(self, url: str, params: dict, what: str) -> None:
        response = self.client.get(url, params)
        self.assertEqual(response.status_code, 400, f"GET {url} with {what}")
        self.assertIn("NUL character", response.content.decode(), url)

    def test_it_walks_the_pages_of_every_app(self):
        names = {name for name, _, _ in all_patterns()}
        for expected in ("member_list", "group_detail", "attendance_record", "login", "api_cache_metrics", "healthz"):
            self.assertIn(expected, names)

    def test_it_never_answers_500_to_odd_query_parameters(self):
        tried = 0
        for name, route, converters in all_patterns():
            url = self.url_for(name, converters)
            self.log_in_as(who(route))
            with recorded_params() as read:
                first = self.client.get(url, PARAMS.get(name, {}))
            check_params_known(name, read)
            if first.status_code == 405:
                continue  # a POST-only view reads no query parameter (its POST is walked below)
            base = PARAMS[name]
            for param in sorted(set(base) | read):
                with self.subTest(url=url, param=param):
                    for value in ODD_VALUES:
                        self.assert_no_server_error(url, {**base, param: value}, f"{param}={value[:20]!r}")
                        tried += 1
                    for value in NUL_VALUES:
                        self.assert_nul_refused(url, {**base, param: value}, f"{param}={value!r}")
            # A parameter no view reads is refused all the same: the guard is for every parameter.
            self.assert_nul_refused(url, {**base, "unread\x00": "x"}, "a NUL in a parameter's name")
        self.assertGreater(tried, 200)

    def test_it_refuses_a_nul_byte_in_a_posted_field_and_in_the_path(self):
        self.login(self.alice)
        for name, route, converters in all_patterns():
            url = self.url_for(name, converters)
            self.log_in_as(who(route))
            response = self.client.post(url, {"name": "Choir\x00", "q": "x"})
            self.assertEqual(response.status_code, 400, url)
            self.assertContains(response, NUL_MESSAGE, status_code=400)
        self.login(self.alice)
        self.assertEqual(self.client.get("/members/%00/").status_code, 400)
        self.assertEqual(self.client.get("/groups/%00").status_code, 400)

    def test_it_drops_a_cookie_holding_a_nul_byte(self):
        self.client.cookies[settings.SESSION_COOKIE_NAME] = "sessionkey\x00tampered0123456789"
        response = self.client.get("/members/")
        self.assertEqual(response.status_code, 302)  # not logged in: to the login page, no 500
        self.assertTrue(response["Location"].startswith("/accounts/login/"))

    def test_it_never_answers_500_to_odd_admin_changelist_parameters(self):
        self.login(self.dana)
        models = list(admin.site._registry)
        self.assertGreaterEqual(len(models), 5)
        for model in models:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            for param in ADMIN_CHANGELIST_PARAMS:
                with self.subTest(url=url, param=param):
                    for value in ODD_VALUES:
                        self.assert_no_server_error(url, {**ADMIN_CHANGELIST_PARAMS, param: value},
                                                    f"{param}={value[:20]!r}")
                    for value in NUL_VALUES:
                        self.assert_nul_refused(url, {param: value}, f"{param}={value!r}")
