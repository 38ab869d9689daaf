"""What users noticed: "Remove as leader", the delete page's spacing, the admin's brand and its
church fields (no Django auth groups next to the church's), `manage.py demo_login`, and the
fuller member page (age, last attended, the whole history paged, a safe link back to the list)."""

from __future__ import annotations

import datetime
import io
import re

from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.core.management import call_command

from attendance.models import Attendance
from members.models import Church, Group, Member, Membership, User
from tests.base import PASSWORD, FlockTestCase, church_day

ACCOUNT = re.compile(r"^account: (\S+) password: (\S+) church: (\S+) role: (staff|admin)$")


class SmallThingsTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.ann = Member.objects.create(church=cls.grace, first_name="Ann", last_name="Able",
                                        birth_date=datetime.date(1990, 6, 15))
        cls.choir = Group.objects.create(church=cls.grace, name="Choir")
        Membership.objects.create(group=cls.choir, member=cls.ann, role="leader")

    def test_it_says_remove_as_leader(self):
        self.login(self.alice)
        response = self.client.get(f"/groups/{self.choir.pk}/")
        self.assertContains(response, "Remove as leader")
        self.assertNotContains(response, "Unmake")

    def test_it_has_no_space_before_the_full_stop_on_the_delete_page(self):
        self.login(self.alice)
        Attendance.objects.create(church=self.grace, member=self.ann, date=church_day())
        text = " ".join(self.client.get(f"/members/{self.ann.pk}/delete/").content.decode().split())
        self.assertIn("from the church's records, together with 1 group membership and 1 attendance record. This",
                      text.replace("&#x27;", "'"))
        plain = Member.objects.create(church=self.grace, first_name="Bo", last_name="Bare")
        text = " ".join(self.client.get(f"/members/{plain.pk}/delete/").content.decode().split())
        self.assertIn("from the church's records. This can", text.replace("&#x27;", "'"))

    def test_it_brands_the_admin_and_leaves_out_djangos_auth_groups(self):
        self.assertEqual(admin.site.site_header, "Flock administration")
        self.assertFalse(admin.site.is_registered(AuthGroup))
        self.login(self.dana)
        index = self.client.get("/admin/")
        self.assertContains(index, "Flock administration")
        self.assertNotContains(index, "/admin/auth/group/")
        user_form = self.client.get(f"/admin/members/user/{self.alice.pk}/change/")
        self.assertNotContains(user_form, 'name="groups"')
        church_form = self.client.get(f"/admin/members/church/{self.grace.pk}/change/")
        for field in ('name="time_zone"', 'name="phone_region"', 'name="service_day"', "America/Chicago"):
            self.assertContains(church_form, field)
        response = self.client.post(f"/admin/members/church/{self.grace.pk}/change/", {
            "name": "Grace Church", "slug": "grace", "time_zone": "Pacific/Honolulu", "phone_region": "US",
            "service_day": "5"})
        self.assertEqual(response.status_code, 302)
        self.grace.refresh_from_db()
        self.assertEqual((self.grace.time_zone, self.grace.service_day), ("Pacific/Honolulu", 5))
        refused = self.client.post(f"/admin/members/church/{self.grace.pk}/change/", {
            "name": "Grace Church", "slug": "grace", "time_zone": "Mars/Olympus", "phone_region": "ZZ",
            "service_day": "5"})
        self.assertEqual(refused.status_code, 200)

    def test_it_gives_a_login_again_with_demo_login(self):
        out = io.StringIO()
        call_command("demo_login", "--password", "pw-one-two", stdout=out)
        line = out.getvalue().strip()
        match = ACCOUNT.match(line)
        self.assertIsNotNone(match, line)
        username, password, church, role = match.groups()
        self.assertEqual((username, church, role), ("alice", "grace", "staff"))
        self.assertTrue(self.client.login(username="alice", password="pw-one-two"))
        out = io.StringIO()
        call_command("demo_login", "--church", "hope", stdout=out)
        username, password, church, _ = ACCOUNT.match(out.getvalue().strip()).groups()
        self.assertEqual((username, church), ("charlie", "hope"))
        self.assertTrue(User.objects.get(username="charlie").check_password(password))
        empty = Church.objects.create(name="New", slug="new")
        out = io.StringIO()
        call_command("demo_login", "--church", "new", stdout=out)
        self.assertTrue(out.getvalue().startswith("account: new-staff password: "))
        self.assertEqual(User.objects.get(username="new-staff").church, empty)
        out = io.StringIO()
        call_command("demo_login", "--admin", stdout=out)
        self.assertRegex(out.getvalue().strip(), r"^account: dana password: \S+ church: - role: admin$")
        self.assertTrue(User.objects.get(username="bob").check_password(PASSWORD))  # nobody else changed

    def test_it_shows_age_last_attended_and_the_whole_history_paged(self):
        self.login(self.alice)
        today = church_day()
        Attendance.objects.bulk_create([
            Attendance(church=self.grace, member=self.ann, date=today - datetime.timedelta(days=i)) for i in range(45)])
        response = self.client.get(f"/members/{self.ann.pk}/")
        age = today.year - 1990 - ((today.month, today.day) < (6, 15))
        self.assertContains(response, f"(age {age})")
        self.assertContains(response, f'{today:%a} {today.day} {today:%b %Y}, the service')
        self.assertEqual(len(response.context["attendance"]), 20)
        older = response.context["older_url"]
        seen = 20
        while older:
            response = self.client.get(older)
            seen += len(response.context["attendance"])
            older = response.context["older_url"]
        self.assertEqual(seen, 45)
        self.assertEqual(response.context["attendance_page"], 3)

    def test_it_links_back_to_the_list_it_came_from_and_nowhere_else(self):
        self.login(self.alice)
        url = f"/members/{self.ann.pk}/"
        came_from = "http://testserver/members/?status=visitor&sort=-joined&q=ann&evil=1"
        response = self.client.get(url, HTTP_REFERER=came_from)
        self.assertEqual(response.context["back_url"], "/members/?q=ann&status=visitor&sort=-joined")
        response = self.client.get(url, HTTP_REFERER=f"http://testserver/groups/{self.choir.pk}/?page=2")
        self.assertEqual((response.context["back_url"], response.context["back_label"]),
                         (f"/groups/{self.choir.pk}/?page=2", "Back to the group"))
        for bad in ("https://evil.example/members/?q=x", "//evil.example/members/", "javascript:alert(1)",
                    "http://testserver/admin/", "/members/\x7f", "x" * 5000):
            with self.subTest(referer=bad[:30]):
                response = self.client.get(url, {"back": bad})
                self.assertEqual(response.context["back_url"], "")
                self.assertContains(response, "All members")
        response = self.client.get(url, {"back": "/members/?group=none"})
        self.assertEqual(response.context["back_url"], "/members/?group=none")
