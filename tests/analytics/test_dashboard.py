"""The staff dashboard: every headline figure, tenant isolation, caching and query counts."""

from __future__ import annotations

import datetime
import re
from unittest import mock

from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from analytics.selectors import dashboard_summary
from attendance.services import attendance_record
from members.services import group_update, member_create, member_update
from attendance.models import Attendance
from cachemon import cache_aside, keys
from members.models import Group, Member, Membership
from tests.base import FlockTestCase, clear_caches, church_day

STAT_RE = re.compile(r'<span data-stat="([a-z0-9_]+)">([^<]*)</span>')
REQUIRED = ("members_total", "members_active", "members_new_30d", "groups_total")


def stats(response) -> dict[str, str]:
    return dict(STAT_RE.findall(response.content.decode()))


def days_ago(n: int) -> datetime.date:
    return church_day() - datetime.timedelta(days=n)


def member_data(**fields) -> dict:
    """A MemberForm's cleaned data, for calling the member services directly."""
    return {"first_name": "", "last_name": "Person", "email": "", "phone": "", "status": "visitor",
            "joined_on": church_day(), "birth_date": None, **fields}


class DashboardTestCase(FlockTestCase):
    url = "/dashboard/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        g = cls.grace
        S = Member.Status

        def member(first: str, status: str, joined: int) -> Member:
            return Member.objects.create(church=g, first_name=first, last_name="Grace", status=status,
                                         joined_on=days_ago(joined))

        cls.m_old = member("Old", S.MEMBER, 400)  # before the 12-month chart window
        cls.m_30 = member("Thirty", S.REGULAR, 30)  # new: joined exactly 30 days ago
        cls.m_31 = member("ThirtyOne", S.VISITOR, 31)  # not new: 31 days ago; in no group
        cls.m_inactive = member("Gone", S.INACTIVE, 0)  # in no group, but inactive: not counted there
        cls.m_archived_only = member("Archived", S.MEMBER, 10)  # only in an archived group
        cls.m_visitor = member("Visitor", S.VISITOR, 5)
        g1 = Group.objects.create(church=g, name="Alpha")
        g2 = Group.objects.create(church=g, name="Youth")
        old = Group.objects.create(church=g, name="Old choir", archived=True)
        for grp, m in [(g1, cls.m_old), (g1, cls.m_30), (g2, cls.m_30), (g2, cls.m_visitor),
                       (old, cls.m_archived_only)]:
            Membership.objects.create(group=grp, member=m)
        Attendance.objects.create(church=g, member=cls.m_old, date=days_ago(0))
        Attendance.objects.create(church=g, member=cls.m_30, group=g1, date=days_ago(27))
        Attendance.objects.create(church=g, member=cls.m_old, date=days_ago(28))  # older than 4 weeks
        Attendance.objects.create(church=g, member=cls.m_old, date=days_ago(200))  # outside every window

        # Hope Chapel: a bigger church whose rows must never show up in Grace's figures.
        h = cls.hope
        hope_members = [
            Member.objects.create(church=h, first_name=f"H{i}", last_name="Hope", status=S.MEMBER)
            for i in range(9)
        ]
        hg = [Group.objects.create(church=h, name=f"Hope {i}") for i in range(3)]
        Membership.objects.create(group=hg[0], member=hope_members[0])
        for m in hope_members:
            Attendance.objects.create(church=h, member=m, date=days_ago(1))

    grace_expected = {
        "members_total": "6",
        "members_active": "3",
        "members_new_30d": "4",
        "groups_total": "2",
        "visitors": "2",
        "avg_group_size": "2.0",
        "members_no_group": "2",
        "attendance_4w": "2",
    }

    def test_it_shows_each_figure(self):
        self.login(self.alice)
        r = self.client.get(self.url)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(stats(r), self.grace_expected)
        self.assertContains(r, "regular attenders + members")

    def test_it_marks_each_required_figure_with_a_number(self):
        self.login(self.alice)
        found = stats(self.client.get(self.url))
        for name in REQUIRED:
            self.assertIn(name, found)
            self.assertRegex(found[name], r"^\d+$")

    def test_it_never_counts_another_church(self):
        self.login(self.charlie)
        hope = stats(self.client.get(self.url))
        self.assertEqual(hope["members_total"], "9")
        self.assertEqual(hope["groups_total"], "3")
        self.assertEqual(hope["attendance_4w"], "9")
        self.assertEqual(hope["members_no_group"], "8")
        # Grace, asked after Hope's page was cached, still gets Grace's figures.
        self.login(self.alice)
        self.assertEqual(stats(self.client.get(self.url)), self.grace_expected)

    def test_it_requires_login(self):
        r = self.client.get(self.url)
        self.assertRedirects(r, f"/accounts/login/?next={self.url}", fetch_redirect_response=False)

    def test_it_sends_platform_admins_to_the_admin(self):
        self.login(self.dana)
        r = self.client.get(self.url)
        self.assertRedirects(r, "/admin/", fetch_redirect_response=False)

    def test_it_is_home(self):
        self.login(self.alice)
        r = self.client.get("/")
        self.assertRedirects(r, self.url, fetch_redirect_response=False)

    def test_it_runs_no_sql_when_warm(self):
        self.login(self.alice)
        self.client.get(self.url)
        with self.assertNumQueries(0):
            r = self.client.get(self.url)
        self.assertEqual(stats(r), self.grace_expected)

    def test_it_serves_the_rendered_fragment_from_the_cache(self):
        self.login(self.alice)
        first = self.client.get(self.url)
        self.assertContains(first, "Figures as of")
        with mock.patch("analytics.selectors.render_to_string", side_effect=AssertionError("re-rendered")):
            again = self.client.get(self.url)
        self.assertEqual(stats(again), self.grace_expected)

    def test_it_keeps_per_user_bits_out_of_the_shared_fragment(self):
        self.login(self.alice)
        self.assertContains(self.client.get(self.url), "alice")
        self.login(self.bob)
        r = self.client.get(self.url)
        self.assertContains(r, "bob")
        self.assertNotContains(r, "alice")

    def test_it_runs_a_constant_number_of_queries_cold(self):
        def cold_queries() -> int:
            clear_caches()
            self.login(self.bob)
            with CaptureQueriesContext(connection) as ctx:
                r = self.client.get(self.url)
            self.assertEqual(r.status_code, 200)
            return len(ctx)

        small = cold_queries()
        Member.objects.bulk_create([
            Member(church=self.grace, first_name=f"N{i}", last_name="Many", status=Member.Status.REGULAR,
                   joined_on=days_ago(i * 6))
            for i in range(57)
        ])
        Attendance.objects.bulk_create([
            Attendance(church=self.grace, member=m, date=days_ago(3))
            for m in Member.objects.for_church(self.grace).filter(last_name="Many")
        ])
        self.recount()
        big = cold_queries()
        self.assertEqual(small, big)
        self.assertEqual(stats(self.client.get(self.url))["members_total"], "63")

    def test_it_computes_the_summary_in_four_queries(self):
        with override_settings(CACHE_ASIDE=False), self.assertNumQueries(4):
            dashboard_summary(church=self.grace)

    def test_it_shows_a_write_at_once(self):
        self.login(self.alice)
        self.assertEqual(stats(self.client.get(self.url))["members_total"], "6")
        with self.captureOnCommitCallbacks(execute=True):
            member_create(church=self.grace, data=member_data(first_name="New", status="member"))
        after = stats(self.client.get(self.url))
        self.assertEqual(after["members_total"], "7")
        self.assertEqual(after["members_active"], "4")
        self.assertEqual(after["members_new_30d"], "5")

        # Archiving Youth (Thirty and Visitor): Thirty is still in Alpha, Visitor is in no group now
        # (with Thirty-One and New: 4).
        with self.captureOnCommitCallbacks(execute=True):
            group_update(group=Group.objects.get(church=self.grace, name="Youth"), data={"archived": True})
        after = stats(self.client.get(self.url))
        self.assertEqual((after["groups_total"], after["members_no_group"]), ("1", "4"))

        with self.captureOnCommitCallbacks(execute=True):
            attendance_record(church=self.grace, date=days_ago(1), group=None,
                              present_member_ids=[self.m_visitor.pk], shown_member_ids=[self.m_visitor.pk])
        self.assertEqual(stats(self.client.get(self.url))["attendance_4w"], "3")

    def details_of(self, member: Member, **changes) -> dict:
        fields = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")
        return {**{name: getattr(member, name) for name in fields}, **changes}

    def test_it_stays_cached_when_an_edit_moves_no_figure(self):
        self.login(self.alice)
        self.client.get(self.url)
        member = Member.objects.get(pk=self.m_30.pk)
        with self.captureOnCommitCallbacks(execute=True):
            member_update(member=member, data=self.details_of(member, phone="+14155550123", first_name="Renamed",
                                                              email="renamed@example.org"))
        with self.assertNumQueries(0):
            self.assertEqual(stats(self.client.get(self.url)), self.grace_expected)
        # What does show those details is fresh at once.
        self.assertContains(self.client.get(f"/members/{member.pk}/"), "renamed@example.org")
        self.assertContains(self.client.get("/members/"), "Renamed")

    def test_it_shows_an_edited_status_or_join_date_at_once(self):
        self.login(self.alice)
        self.client.get(self.url)
        member = Member.objects.get(pk=self.m_30.pk)
        with self.captureOnCommitCallbacks(execute=True):
            member_update(member=member, data=self.details_of(member, status=Member.Status.INACTIVE))
        self.assertNotEqual(stats(self.client.get(self.url))["members_active"], self.grace_expected["members_active"])
        member.refresh_from_db()
        with self.captureOnCommitCallbacks(execute=True):
            member_update(member=member, data=self.details_of(member, joined_on=days_ago(400)))
        self.assertEqual(int(stats(self.client.get(self.url))["members_new_30d"]),
                         int(self.grace_expected["members_new_30d"]) - 1)

    def test_it_keeps_hope_cached_when_grace_writes(self):
        self.login(self.charlie)
        self.client.get(self.url)
        with self.captureOnCommitCallbacks(execute=True), transaction.atomic():
            Member.objects.create(church=self.grace, first_name="New", last_name="Person")
            cache_aside.invalidate(*keys.MEMBER_WRITE, church_id=self.grace.id)
        with self.assertNumQueries(0):
            self.assertEqual(stats(self.client.get(self.url))["members_total"], "9")

    @override_settings(CACHE_ASIDE=False)
    def test_it_renders_the_same_figures_without_cache_aside(self):
        self.login(self.alice)
        self.assertEqual(stats(self.client.get(self.url)), self.grace_expected)

    def test_it_builds_the_chart_series(self):
        s = dashboard_summary(church=self.grace)
        growth = s["growth"]
        self.assertEqual(len(growth), 12)
        self.assertEqual(growth[-1]["total"], 6)
        self.assertEqual(sum(row["joined"] for row in growth), 5)  # all but the 400-day-old one
        self.assertEqual([row["total"] for row in growth], sorted(row["total"] for row in growth))
        weeks = s["attendance_weeks"]
        self.assertEqual(len(weeks), 12)
        self.assertEqual(weeks[0]["week"].weekday(), 0)  # weeks start on Monday
        self.assertEqual(sum(row["total"] for row in weeks), 3)  # the 200-day-old record is outside
        self.assertEqual(sum(row["groups"] for row in weeks), 1)
        self.assertEqual({row["status"]: row["count"] for row in s["status_counts"]},
                         {"member": 2, "regular": 1, "visitor": 2, "inactive": 1})

    def test_it_shows_friendly_empty_charts_for_a_new_church(self):
        Member.objects.for_church(self.hope).delete()
        Group.objects.for_church(self.hope).delete()
        self.recount()
        self.login(self.charlie)
        r = self.client.get(self.url)
        self.assertEqual(stats(r)["members_total"], "0")
        self.assertEqual(stats(r)["avg_group_size"], "0")
        self.assertContains(r, "No people yet")
        self.assertContains(r, "No attendance recorded in the last 12 weeks.")
