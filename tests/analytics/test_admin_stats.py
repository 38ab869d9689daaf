"""The platform admin's statistics page (/admin/stats/): every church's figures, from the counters."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import selectors
from attendance.services import attendance_record
from members.models import Church, Group, User
from members.services import member_create
from tests.analytics.test_dashboard import member_data
from tests.base import FlockTestCase, make_user, church_day

PAGE = "/admin/stats/"


class AdminStatsPageTestCase(FlockTestCase):
    def row(self, html: str, slug: str) -> dict[str, str]:
        match = re.search(rf'<tr data-church="{slug}">(.*?)</tr>', html, re.S)
        self.assertIsNotNone(match, slug)
        return dict(re.findall(r'data-figure="(\w+)">([^<]*)<', match.group(1)))

    def test_it_shows_each_churchs_figures_to_a_platform_admin(self):
        ames = member_create(church=self.grace, data=member_data(last_name="Ames", status="member"))
        member_create(church=self.grace, data=member_data(last_name="Byrd", status="visitor"))
        member_create(church=self.hope, data=member_data(last_name="Cole", status="regular"))
        Group.objects.create(church=self.grace, name="Choir")
        Group.objects.create(church=self.grace, name="Old", archived=True)
        attendance_record(church=self.grace, date=church_day(), group=None, present_member_ids=[ames.id],
                          shown_member_ids=[ames.id])
        self.login(self.dana)
        r = self.client.get(PAGE)
        self.assertEqual(r.status_code, 200)
        html = r.content.decode()
        self.assertEqual(self.row(html, "grace"), {"members": "2", "active": "1", "visitors": "1", "groups": "1",
                                                   "staff": "2", "attendance_4w": "1"})
        self.assertEqual(self.row(html, "hope"), {"members": "1", "active": "1", "visitors": "0", "groups": "0",
                                                  "staff": "1", "attendance_4w": "0"})
        self.assertIn('data-figure="members">3<', html)
        self.assertIn('data-figure="churches">2<', html)

    def test_it_links_the_page_from_the_admin_index(self):
        self.login(self.dana)
        self.assertContains(self.client.get("/admin/"), f'<a href="{PAGE}">Platform statistics</a>', html=True)

    def test_it_sends_staff_and_anonymous_to_the_admin_login(self):
        for user in (None, self.alice):
            with self.subTest(user=user):
                self.client.logout()
                if user:
                    self.login(user)
                r = self.client.get(PAGE)
                self.assertEqual(r.status_code, 302)
                self.assertTrue(r["Location"].startswith("/admin/login/"), r["Location"])

    def test_it_pages_the_churches_and_clamps_odd_page_numbers(self):
        Church.objects.bulk_create(Church(name=f"Church {i:03d}", slug=f"church-{i:03d}") for i in range(60))
        self.login(self.dana)
        last = self.client.get(PAGE, {"page": "2"}).content.decode()
        self.assertIn("page 2 of 2", last)
        self.assertEqual(last.count("<tr data-church="), 62 - selectors.STATS_PER_PAGE)
        for odd in ("0", "-3", "999", "x"):
            with self.subTest(page=odd):
                self.assertEqual(self.client.get(PAGE, {"page": odd}).status_code, 200)

    def test_it_reads_a_fixed_number_of_queries_whatever_the_number_of_churches(self):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                selectors.platform_statistics(page=1)
            return len(captured)

        few = queries()
        for i in range(20):
            church = Church.objects.create(name=f"More {i}", slug=f"more-{i}")
            make_user(f"staff{i}", church=church)
        self.recount()
        self.assertEqual(few, 9)
        with self.assertNumQueries(9):
            selectors.platform_statistics(page=1)

    def test_it_says_so_when_there_is_no_church_yet(self):
        User.objects.filter(church__isnull=False).delete()
        Church.objects.all().delete()
        self.login(self.dana)
        self.assertContains(self.client.get(PAGE), "No churches yet")
