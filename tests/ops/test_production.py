"""`DJANGO_ENV=production`: settings are read at import, so each case runs in a fresh process."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.test import SimpleTestCase

BASE_DIR = Path(__file__).resolve().parents[2]

# Fetches a few pages with Django's test client inside a production-configured process.
PROBE = r"""
import json, django
django.setup()
from django.conf import settings
# Production serves hashed static names from collectstatic's manifest (`make deploy` builds it);
# collecting takes half a minute, and static files are not what these cases are about.
settings.STORAGES = {**settings.STORAGES,
                     "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
from django.test import Client
c = Client()
out = {}
plain = c.get("/accounts/login/")
out["plain"] = [plain.status_code, plain.get("Location", "")]
tls = c.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
out["tls"] = [tls.status_code, tls.get("Strict-Transport-Security", ""), tls.get("X-Content-Type-Options", "")]
csrf = tls.cookies.get("csrftoken")
out["csrf_cookie"] = [bool(csrf["secure"]), bool(csrf["httponly"]), csrf["samesite"]] if csrf else None
missing = c.get("/no-such-page/", headers={"X-Forwarded-Proto": "https"})
out["missing"] = [missing.status_code, missing.content.decode()]
from django.conf import settings
out["unknown_host"] = Client(HTTP_HOST="evil.example.com").get(
    "/accounts/login/", headers={"X-Forwarded-Proto": "https"}).status_code
# A load balancer probes over plain HTTP inside the network: no redirect to HTTPS there.
out["probes"] = [c.get(p).status_code for p in ("/healthz", "/readyz")]
out["probe_redirect_elsewhere"] = c.get("/healthz/extra").status_code
out["settings"] = [settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                   settings.ALLOWED_HOSTS]
print(json.dumps(out))
"""


class ProductionTestCase(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.var_dir = tempfile.mkdtemp(prefix="flock-prod-")
        result = cls.run_django(cls, ["-c", PROBE])
        assert result.returncode == 0, result.stderr
        cls.probe = json.loads(result.stdout.strip().splitlines()[-1])
        cls.probe_log = result.stderr

    def run_django(self, args, *, secret="s" * 20 + "-production-test-secret-key-0123456789", extra_env=None):
        # Its own SQLite database and embedded cache (under var_dir): /readyz answers from them.
        env = {k: v for k, v in os.environ.items()
               if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DATABASE_URL", "REDIS_URL")}
        env.update(
            DJANGO_ENV="production",
            DJANGO_ALLOWED_HOSTS="flock.example.org,testserver",
            FLOCK_VAR_DIR=self.var_dir,
            DJANGO_SETTINGS_MODULE="churchapp.settings",
        )
        if secret:
            env["DJANGO_SECRET_KEY"] = secret
        env.update(extra_env or {})
        return subprocess.run(
            [sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
        )

    def test_it_passes_check_deploy_at_warning_level(self):
        result = self.run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no issues", result.stdout)

    def test_it_refuses_to_start_without_a_secret_key(self):
        result = self.run_django(["manage.py", "check"], secret="")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DJANGO_SECRET_KEY is not set", result.stderr)

    def test_it_serves_production_pages_securely(self):
        out = self.probe
        # Plain HTTP (no X-Forwarded-Proto: https from the proxy) is sent to HTTPS.
        self.assertEqual(out["plain"], [301, "https://testserver/accounts/login/"])
        status, hsts, nosniff = out["tls"]
        self.assertEqual(status, 200)
        self.assertEqual(hsts, "max-age=31536000; includeSubDomains; preload")
        self.assertEqual(nosniff, "nosniff")
        self.assertEqual(out["csrf_cookie"], [True, True, "Lax"])
        debug, session_secure, session_httponly, hosts = out["settings"]
        self.assertEqual([debug, session_secure, session_httponly], [False, True, True])
        self.assertEqual(hosts, ["flock.example.org", "testserver"])

    def test_it_shows_a_plain_404_page_without_debug_details(self):
        status, body = self.probe["missing"]
        self.assertEqual(status, 404)
        self.assertIn("Page not found", body)
        self.assertNotIn("URLconf", body)  # Django's debug 404 lists the URL patterns

    def test_it_rejects_unknown_hosts(self):
        self.assertEqual(self.probe["unknown_host"], 400)

    def test_it_logs_a_bad_host_as_one_warning_line_without_a_traceback(self):
        lines = [line for line in self.probe_log.splitlines() if "evil.example.com" in line]
        self.assertEqual(len(lines), 1, self.probe_log)
        self.assertIn("WARNING django.security.DisallowedHost Invalid HTTP_HOST header", lines[0])
        self.assertNotIn("Traceback", self.probe_log)
        self.assertNotIn(" ERROR ", self.probe_log)

    def test_it_answers_the_load_balancers_probes_over_plain_http(self):
        self.assertEqual(self.probe["probes"], [200, 200])
        self.assertEqual(self.probe["probe_redirect_elsewhere"], 301)  # only the probes are exempt
