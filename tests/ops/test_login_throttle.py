from unittest import mock

from django.core.cache import caches
from django.test import override_settings

from cachemon import keys
from cachemon.cache_aside import breaker
from members import login as login_module
from tests.base import PASSWORD, FlockTestCase

URL = "/accounts/login/"
NEXT = "/admin/"  # a page every test user can reach without other apps' URLs


# A fast hasher: these tests make dozens of password checks (setUpTestData runs under it too).
@override_settings(
    LOGIN_FAILURE_LIMIT=5,
    LOGIN_FAILURE_LIMIT_PER_IP=20,
    LOGIN_FAILURE_WINDOW=900,
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)
class LoginThrottleTestCase(FlockTestCase):
    def post(self, username, password, ip="203.0.113.7"):
        return self.client.post(URL, {"username": username, "password": password, "next": NEXT}, REMOTE_ADDR=ip)

    def fail(self, n, username="alice", ip="203.0.113.7"):
        return [self.post(username, "wrong-password", ip=ip) for _ in range(n)]

    def test_it_logs_in_with_the_right_password(self):
        r = self.post("dana", PASSWORD)
        self.assertRedirects(r, NEXT)

    def test_it_shows_the_plain_error_below_the_limit(self):
        r = self.fail(4)[-1]
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "didn't match")
        self.assertNotContains(r, "Too many failed login attempts")

    def test_it_locks_out_at_the_fifth_failure_with_429(self):
        r = self.fail(5)[-1]
        self.assertEqual(r.status_code, 429)
        self.assertContains(r, "Too many failed login attempts. Try again in 15 minutes.", status_code=429)
        self.assertEqual(int(r["Retry-After"]), 900)
        self.assertContains(r, 'value="alice"', status_code=429)

    def test_it_refuses_even_the_right_password_while_locked_out(self):
        self.fail(5)
        r = self.post("alice", PASSWORD)
        self.assertEqual(r.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_counts_the_username_case_insensitively(self):
        for name in ("alice", "ALICE", "Alice", "alicE", " alice "):
            r = self.post(name, "wrong-password")
        self.assertEqual(r.status_code, 429)

    def test_it_does_not_lock_out_other_users(self):
        self.fail(5, username="alice")
        r = self.post("bob", "wrong-password")
        self.assertEqual(r.status_code, 200)
        self.assertRedirects(self.post("dana", PASSWORD), NEXT)

    def test_it_resets_the_count_on_success(self):
        self.fail(4, username="dana")
        self.assertRedirects(self.post("dana", PASSWORD), NEXT)
        self.client.post("/accounts/logout/")
        r = self.fail(4, username="dana")[-1]
        self.assertEqual(r.status_code, 200)

    def test_it_locks_out_an_address_guessing_many_usernames(self):
        for i in range(19):
            self.assertEqual(self.post(f"user{i}", "x").status_code, 200)
        r = self.post("user19", "x")
        self.assertEqual(r.status_code, 429)
        # Another address is not affected.
        self.assertRedirects(self.post("dana", PASSWORD, ip="198.51.100.1"), NEXT)

    def test_it_takes_the_proxys_hop_from_x_forwarded_for_only_behind_loopback(self):
        request = mock.Mock(META={"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.9"})
        self.assertEqual(login_module.client_ip(request), "203.0.113.9")
        request = mock.Mock(META={"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
        self.assertEqual(login_module.client_ip(request), "198.51.100.4")

    def test_it_believes_the_balancers_on_other_machines_named_in_trusted_proxies(self):
        behind = mock.Mock(META={"REMOTE_ADDR": "10.0.2.7", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
        with self.settings(TRUSTED_PROXIES=["10.0.2.0/24"]):
            self.assertEqual(login_module.client_ip(behind), "203.0.113.9")
            loopback = mock.Mock(META={"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
            self.assertEqual(login_module.client_ip(loopback), "127.0.0.1")
        self.assertEqual(login_module.client_ip(behind), "10.0.2.7")

    def test_it_ends_the_lockout_after_the_window(self):
        self.fail(5)
        with mock.patch("members.login.time.time", return_value=login_module.time.time() + 901):
            self.assertRedirects(self.post("alice", PASSWORD), NEXT, fetch_redirect_response=False)

    def test_it_keys_the_counters_through_cachemon_keys(self):
        self.fail(2)
        self.assertEqual(caches["default"].get(keys.login_failures("user", "alice")), 2)

    def test_it_fails_open_when_the_cache_is_down(self):
        broken = mock.Mock()
        broken.get_many.side_effect = ConnectionError("cache down")
        broken.add.side_effect = ConnectionError("cache down")
        broken.delete_many.side_effect = ConnectionError("cache down")
        before = login_module.PROM_ERRORS._value.get()
        try:
            with mock.patch.object(login_module, "caches", {"default": broken}), self.assertLogs(
                "members.login", "WARNING"
            ) as logs:
                r = self.fail(6)[-1]
                self.assertEqual(r.status_code, 200)
                self.assertRedirects(self.post("dana", PASSWORD), NEXT)
        finally:
            breaker.reset()
        self.assertGreater(login_module.PROM_ERRORS._value.get(), before)
        self.assertIn("failing open", logs.output[0])
