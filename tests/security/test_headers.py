"""Response headers and markup the Content-Security-Policy can hold to.

- Every answer: a Content-Security-Policy without 'unsafe-inline' (scripts and styles from
  Flock's own static files only) and a Permissions-Policy.
- Every staff page (walked at runtime, with names full of markup-like and bidi text): the
  markup has no inline <script>, no on*= handler and no style= attribute (the CSP would block
  them: the page would break), user text is isolated in <bdi>, and the answer is
  `Cache-Control: private, no-store` (personal data; the CSV export included).
- The one inline <style> the policy allows is the stand-alone error page's, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from attendance.models import Attendance
from members.models import Group, Member, Membership
from tests.base import FlockTestCase
from tests.security.walk import PARAMS, WalkFixtures, all_patterns, who

SCRIPT_TYPES_THAT_RUN = {"", "text/javascript", "module", "application/javascript"}


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, handlers, style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value for name, value in attrs}
        for name in names:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style={names[name]!r}>")
        if tag == "script" and not names.get("src") and (names.get("type") or "").lower() in SCRIPT_TYPES_THAT_RUN:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name in ("href", "src", "action"):
            if (names.get(name) or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


class HeadersTestCase(WalkFixtures, FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # Text that would break out of markup or flip the page's direction if it were not
        # escaped and isolated.
        cls.tricky = Member.objects.create(church=cls.grace, first_name="<i>Ivy</i>", last_name="\u05e9\u05dc\u05d5\u05dd",
                                           email="ivy@grace.test")
        Membership.objects.create(group=cls.group, member=cls.tricky, role="leader")
        Group.objects.filter(pk=cls.group.pk).update(description="Sings\non Sundays")
        Attendance.objects.create(church=cls.grace, member=cls.tricky, group=cls.group, date=cls.attendance.date)
        cls.recount()

    def staff_pages(self):
        for name, route, converters in all_patterns():
            if who(route) != "staff":
                continue
            url = self.url_for(name, converters)
            response = self.client.get(url, PARAMS.get(name, {}))
            if response.status_code != 405:
                yield url, response

    def test_it_sends_a_strict_policy_and_a_permissions_policy_on_every_answer(self):
        self.login(self.alice)
        for url in ("/members/", "/accounts/login/", "/healthz", "/no-such-page/", "/admin/"):
            response = self.client.get(url)
            with self.subTest(url=url):
                policy = response["Content-Security-Policy"]
                directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
                self.assertEqual(directives["script-src"], "'self'")
                self.assertNotIn("unsafe-inline", policy)
                self.assertNotIn("unsafe-eval", policy)
                self.assertEqual(directives["object-src"], "'none'")
                self.assertEqual(directives["frame-ancestors"], "'none'")
                self.assertIn("camera=()", response["Permissions-Policy"])
                self.assertIn("geolocation=()", response["Permissions-Policy"])

    def test_it_keeps_inline_code_and_style_attributes_off_every_staff_page(self):
        self.login(self.alice)
        seen = 0
        for url, response in self.staff_pages():
            with self.subTest(url=url):
                self.assertLess(response.status_code, 500, url)
                if response.streaming or "html" not in response.get("Content-Type", ""):
                    continue
                self.assertEqual(inline_code(response.content.decode()), [], url)
                seen += 1
        self.assertGreaterEqual(seen, 10)
        self.client.logout()
        self.assertEqual(inline_code(self.client.get("/accounts/login/").content.decode()), [], "the login page")

    def test_it_marks_every_staff_answer_private_and_uncacheable(self):
        self.login(self.alice)
        for url, response in self.staff_pages():
            with self.subTest(url=url):
                cache_control = {part.strip() for part in response.get("Cache-Control", "").split(",")}
                self.assertLessEqual({"private", "no-store"}, cache_control, url)

    def test_it_isolates_user_text_in_bdi(self):
        self.login(self.alice)
        for url in (f"/members/{self.tricky.pk}/", "/members/", f"/groups/{self.group.pk}/", "/groups/"):
            body = self.client.get(url).content.decode()
            with self.subTest(url=url):
                self.assertIn("&lt;i&gt;Ivy&lt;/i&gt;", body)
                self.assertRegex(body, r"<bdi>[^<]*\u05e9\u05dc\u05d5\u05dd")

    def test_it_allows_the_error_pages_inline_style_by_its_exact_hash(self):
        template = Path(settings.BASE_DIR, "templates", "_error_page.html").read_text()
        css = re.search(r"<style>(.*?)</style>", template, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        self.assertEqual(settings.ERROR_PAGE_STYLE_HASH, f"'sha256-{digest}'")
        self.assertIn(settings.ERROR_PAGE_STYLE_HASH, settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src"])
        for page in ("400.html", "404.html", "500.html"):
            found = inline_code(render_to_string(page))
            self.assertEqual(found, ["<style> element"], page)  # only that one, allowed by its hash
