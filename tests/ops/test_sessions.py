from datetime import timedelta

from django.conf import settings
from cachemon.sessions import SessionStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import override_settings
from django.utils import timezone

from members.login import SESSION_EXPIRED_MESSAGE
from tests.base import PASSWORD, FlockTestCase

PAGE = "/members/"  # any staff page: login required


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class SessionsTestCase(FlockTestCase):
    def log_in(self, username="alice"):
        r = self.client.post("/accounts/login/", {"username": username, "password": PASSWORD, "next": PAGE})
        self.assertRedirects(r, PAGE, fetch_redirect_response=False)
        return r

    def test_it_sets_httponly_lax_session_cookie_for_two_weeks(self):
        cookie = self.log_in().cookies[settings.SESSION_COOKIE_NAME]
        self.assertTrue(cookie["httponly"])
        self.assertEqual(cookie["samesite"], "Lax")
        self.assertEqual(int(cookie["max-age"]), 14 * 24 * 60 * 60)
        self.assertEqual(settings.SESSION_COOKIE_AGE, 14 * 24 * 60 * 60)

    def test_it_sets_httponly_lax_csrf_cookie(self):
        cookie = self.client.get("/accounts/login/").cookies[settings.CSRF_COOKIE_NAME]
        self.assertTrue(cookie["httponly"])
        self.assertEqual(cookie["samesite"], "Lax")

    def test_it_keeps_sessions_in_the_sessions_cache_and_the_database(self):
        self.log_in()
        key = self.client.cookies[settings.SESSION_COOKIE_NAME].value
        self.assertEqual(settings.SESSION_ENGINE, "cachemon.sessions")  # cached_db behind the breaker
        self.assertIsNotNone(caches["sessions"].get(SessionStore(session_key=key).cache_key))
        self.assertTrue(Session.objects.filter(session_key=key).exists())

    def test_it_survives_losing_the_cached_copy(self):
        self.log_in()
        key = self.client.cookies[settings.SESSION_COOKIE_NAME].value
        caches["sessions"].delete(SessionStore(session_key=key).cache_key)
        self.assertEqual(self.client.get(PAGE).status_code, 200)

    def test_it_redirects_an_expired_session_to_login_with_a_message(self):
        self.log_in()
        key = self.client.cookies[settings.SESSION_COOKIE_NAME].value
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
        caches["sessions"].delete(SessionStore(session_key=key).cache_key)
        r = self.client.get(PAGE, follow=True)
        self.assertRedirects(r, f"/accounts/login/?next={PAGE}")
        self.assertContains(r, SESSION_EXPIRED_MESSAGE)
        self.assertNotContains(r, "Please log in to see that page.")

    def test_it_treats_an_invalid_session_cookie_like_an_expired_one(self):
        self.client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session-key-0123456789abcdef"
        r = self.client.get(PAGE, follow=True)
        self.assertRedirects(r, f"/accounts/login/?next={PAGE}")
        self.assertContains(r, SESSION_EXPIRED_MESSAGE)

    def test_it_says_nothing_about_expiry_to_a_first_visit(self):
        r = self.client.get(PAGE, follow=True)
        self.assertRedirects(r, f"/accounts/login/?next={PAGE}")
        self.assertNotContains(r, SESSION_EXPIRED_MESSAGE)
        self.assertContains(r, "Please log in to see that page.")

    def test_it_says_nothing_about_expiry_after_logging_out(self):
        self.log_in()
        self.client.post("/accounts/logout/")
        r = self.client.get(PAGE, follow=True)
        self.assertNotContains(r, SESSION_EXPIRED_MESSAGE)
