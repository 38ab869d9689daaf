"""Every staff URL of every app, found at runtime from the root resolver, is tenant-safe.

A new view is covered the moment its URL pattern exists: anonymous users are sent to the
login page, a platform admin to the admin, and another church's staff get a 404 for any of
Grace's object ids, on GET and on POST, with nothing changed. A URL with a path argument this
test does not know fails loudly: add the argument to `OBJECT_KWARGS` (or `VALUE_KWARGS`).
"""

from __future__ import annotations

import datetime
from urllib.parse import quote

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from attendance.models import Attendance
from members.models import Group, Member, Membership
from messaging import services as messaging_services
from messaging.models import Delivery, Message, OptOut
from tests.base import FlockTestCase

# URL prefixes that are not staff pages (they have their own access rules and tests).
# sms/: the provider's webhooks (signature-checked; tests/messaging/test_webhooks.py).
EXCLUDED_PREFIXES = ("admin/", "accounts/", "api/", "metrics", "healthz", "readyz", "static/", "media/", "sms/")
# Named URLs outside the staff area: "/" only redirects to the dashboard.
EXCLUDED_NAMES = {"home"}

# Path kwargs that carry an object id: which of Grace's objects to put there.
OBJECT_KWARGS = {
    "member_id": "member",
    "group_id": "group",
    "membership_id": "membership",
    "attendance_id": "attendance",
    "message_id": "message",
}
# `pk` is ambiguous: the URL name says which model it is about.
PK_BY_NAME_PREFIX = {"member": "member", "group": "group", "membership": "membership", "attendance": "attendance",
                     "message": "message"}
# Path kwargs that are not object ids.
VALUE_KWARGS = {"date": datetime.date(2026, 3, 1).isoformat(), "year": 2026, "month": 3}


def staff_patterns() -> list[tuple[str, str, dict]]:
    """(name, route, converters) of every named URL pattern outside the excluded prefixes."""
    found: list[tuple[str, str, dict]] = []

    def walk(patterns, prefix: str, converters: dict) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith(EXCLUDED_PREFIXES):
                continue
            entry_converters = {**converters, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, entry_converters)
            elif isinstance(entry, URLPattern):
                if entry.name is None:
                    raise AssertionError(f"URL {route!r} has no name; name it so this test can reverse it.")
                if entry.name not in EXCLUDED_NAMES:
                    found.append((entry.name, route, entry_converters))

    walk(get_resolver().url_patterns, "", {})
    return found


def make_grace_objects(cls) -> None:
    """One of Grace's objects per kind named in OBJECT_KWARGS (and one of Hope's member), as
    attributes of the test case. Shared with the walks of tests/security/."""
    cls.member = Member.objects.create(church=cls.grace, first_name="Gia", last_name="Grace",
                                       email="gia@grace.test", phone="+15550000001")
    cls.other_member = Member.objects.create(church=cls.grace, first_name="Gus", last_name="Grace")
    cls.group = Group.objects.create(church=cls.grace, name="Grace Choir")
    cls.membership = Membership.objects.create(group=cls.group, member=cls.member)
    cls.attendance = Attendance.objects.create(church=cls.grace, member=cls.member, date=datetime.date(2026, 3, 1))
    Member.objects.create(church=cls.hope, first_name="Hal", last_name="Hope")
    cls.message, _ = messaging_services.message_confirm(
        church=cls.grace, user=cls.alice,
        draft=messaging_services.Draft(body="Gia's choir text", group_id=cls.group.pk, key="a" * 32))


class AccessTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        make_grace_objects(cls)
        cls.patterns = staff_patterns()

    def _grace_object(self, name: str, kwarg: str):
        if kwarg == "pk":
            kind = next((k for prefix, k in PK_BY_NAME_PREFIX.items() if name.startswith(prefix)), None)
        else:
            kind = OBJECT_KWARGS.get(kwarg)
        if kind is None:
            raise AssertionError(
                f"URL {name!r} has a path argument {kwarg!r} this test doesn't know: add it to "
                f"OBJECT_KWARGS or VALUE_KWARGS in {__name__} so the new view is access-tested."
            )
        return getattr(self, kind)

    def _url(self, name: str, converters: dict) -> tuple[str, bool]:
        """The URL with Grace's ids filled in, and whether it names one of Grace's objects."""
        kwargs, has_object = {}, False
        for kwarg in converters:
            if kwarg in VALUE_KWARGS:
                kwargs[kwarg] = VALUE_KWARGS[kwarg]
            else:
                kwargs[kwarg] = self._grace_object(name, kwarg).pk
                has_object = True
        return reverse(name, kwargs=kwargs), has_object

    def _snapshot(self) -> dict:
        return {
            "members": sorted(Member.objects.values_list("id", "church_id", "first_name", "last_name", "email",
                                                        "phone", "status", "joined_on", "birth_date")),
            "groups": sorted(Group.objects.values_list("id", "church_id", "name", "kind", "description", "archived")),
            "memberships": sorted(Membership.objects.values_list("id", "group_id", "member_id", "role", "joined_on")),
            "attendance": sorted(Attendance.objects.values_list("id", "church_id", "member_id", "group_id", "date")),
            "messages": sorted(Message.objects.values_list("id", "church_id", "n_queued", "n_cancelled", "cancelled_at")),
            "deliveries": sorted(Delivery.objects.values_list("id", "state")),
            "optouts": sorted(OptOut.objects.values_list("id", "church_id", "phone", "opted_out")),
        }

    def test_it_finds_the_staff_urls_of_every_app(self):
        names = {name for name, _, _ in self.patterns}
        for expected in ("member_list", "member_detail", "member_delete", "member_import", "member_export",
                         "group_list", "group_detail", "membership_add", "membership_remove", "dashboard",
                         "attendance_list", "message_list", "message_new", "message_detail", "message_cancel",
                         "member_optout"):
            self.assertIn(expected, names)

    def _request(self, url: str):
        """The URL with the method its view accepts: GET, or POST for write-only views."""
        response = self.client.get(url)
        return self.client.post(url) if response.status_code == 405 else response

    def test_it_sends_anonymous_users_to_the_login_page(self):
        for name, _, converters in self.patterns:
            url, _ = self._url(name, converters)
            with self.subTest(url=url):
                response = self._request(url)
                self.assertEqual(response.status_code, 302, url)
                self.assertEqual(response["Location"], f"/accounts/login/?next={quote(url)}")

    def test_it_sends_platform_admins_to_the_admin(self):
        self.login(self.dana)
        for name, _, converters in self.patterns:
            url, _ = self._url(name, converters)
            with self.subTest(url=url):
                response = self._request(url)
                self.assertRedirects(response, "/admin/", fetch_redirect_response=False)

    def test_it_hides_another_churchs_objects_from_charlie(self):
        self.login(self.charlie)
        before = self._snapshot()
        checked = 0
        for name, _, converters in self.patterns:
            url, has_object = self._url(name, converters)
            if not has_object:
                continue
            checked += 1
            with self.subTest(url=url):
                get = self.client.get(url)
                post = self.client.post(url, {
                    # Plausible form data, so that a leak would actually write something.
                    "member_id": self.other_member.pk, "role": "leader", "status": "inactive",
                    "first_name": "Hacked", "last_name": "Hacked", "name": "Hacked", "kind": "other",
                    "opted_out": "1", "body": "Hacked", "group": self.group.pk,
                })
                # A POST-only view may answer a GET with 405 (no data either way); never 200/302.
                self.assertIn(get.status_code, (404, 405), f"GET {url} {get.get('Location')}")
                self.assertIn(post.status_code, (404, 405), f"POST {url}")
                self.assertTrue(404 in (get.status_code, post.status_code), f"{url}: neither GET nor POST is a 404")
        self.assertGreaterEqual(checked, 8)
        self.assertEqual(self._snapshot(), before)

    def test_it_lets_charlie_use_his_own_churchs_pages_without_seeing_grace(self):
        self.login(self.charlie)
        for name, _, converters in self.patterns:
            if converters:
                continue
            url = reverse(name)
            with self.subTest(url=url):
                response = self.client.get(url, follow=True)
                # 400: a page that needs query parameters (e.g. which date to record); a page that
                # fills in its own defaults redirects to itself (the checklist's date), never away.
                self.assertIn(response.status_code, (200, 400, 405), url)
                for hop, _ in response.redirect_chain:
                    self.assertTrue(hop.startswith(url), (url, response.redirect_chain))
                if response.status_code == 200 and not response.streaming:
                    body = response.content.decode()
                    self.assertNotIn("Gia", body)
                    self.assertNotIn("Grace Choir", body)

    def test_it_refuses_charlies_bulk_status_change_on_grace_members(self):
        self.login(self.charlie)
        before = self._snapshot()
        response = self.client.post(reverse("member_bulk_status"),
                                    {"member_ids": [self.member.pk, self.other_member.pk], "status": "inactive"})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(self._snapshot(), before)
