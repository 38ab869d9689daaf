"""A head count for a service ("240 present"), first-time visitors added from the checklist, one
save carrying the ticks of other pages (`present_ids` / `absent_ids`), and inactive people hidden
from the checklist unless asked for."""

from __future__ import annotations

import datetime

from attendance import tallies
from attendance.models import Attendance, HeadCount, SessionCount
from attendance.selectors import attendance_sessions
from attendance.services import attendance_set_head_count
from analytics.selectors import _compute_summary
from members.models import Member, Membership
from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase, church_day


class HeadCountAndVisitorsTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.today = church_day()
        cls.people = make_members(cls.grace, 4)
        cls.youth = make_group(cls.grace, "Youth", cls.people[:2])

    def setUp(self) -> None:
        self.login(self.alice)

    def post(self, url: str, **data):
        return self.client.post(url, {"date": self.today.isoformat(), "group": "", **data})

    def test_it_counts_a_head_count_in_the_chart_the_4_week_figure_and_the_sessions(self):
        record(self.grace, self.people[:3], self.today)  # 3 ticked by name
        response = self.post("/attendance/record/head-count/", present="240")
        self.assertRedirects(response, f"/attendance/record/?date={self.today}&group=", fetch_redirect_response=False)
        self.assertEqual(HeadCount.objects.get(church=self.grace).present, 240)
        summary = _compute_summary(self.grace)
        self.assertEqual(summary["attendance_4w"], 240)  # the larger of the names and the count
        self.assertEqual(summary["attendance_weeks"][-1]["service"], 240)
        session = attendance_sessions(church=self.grace, page=1).object_list[0]
        self.assertEqual((session.headcount, session.counted), (240, 240))
        self.assertContains(self.client.get("/attendance/"), "(head count)")
        self.assertEqual(tallies.drift(self.grace.id), 0)
        # Lower than the names: the names win; removed: back to the names alone.
        attendance_set_head_count(church=self.grace, date=self.today, present=2)
        self.assertEqual(_compute_summary(self.grace)["attendance_4w"], 3)
        self.post("/attendance/record/head-count/", present="")
        self.assertFalse(HeadCount.objects.exists())
        self.assertEqual(_compute_summary(self.grace)["attendance_4w"], 3)
        self.assertEqual(tallies.drift(self.grace.id), 0)

    def test_it_keeps_a_count_only_service_in_the_figures(self):
        attendance_set_head_count(church=self.grace, date=self.today - datetime.timedelta(days=3), present=120)
        self.assertEqual(_compute_summary(self.grace)["attendance_4w"], 120)
        self.assertEqual(SessionCount.objects.get(church=self.grace).counted, 120)
        tallies.rebuild_church(self.grace.id)  # a rebuild keeps it (from the HeadCount rows)
        self.assertEqual(_compute_summary(self.grace)["attendance_4w"], 120)
        self.assertEqual(attendance_sessions(church=self.grace, page=1).object_list[0].headcount, 120)

    def test_it_refuses_a_bad_head_count_and_changes_nothing(self):
        for bad in ("-1", "abc", "2000000", "1.5"):
            with self.subTest(present=bad):
                response = self.post("/attendance/record/head-count/", present=bad)
                self.assertEqual(response.status_code, 302)
                self.assertFalse(HeadCount.objects.exists())
        response = self.post("/attendance/record/head-count/", present="10", group=str(self.youth.pk))
        self.assertFalse(HeadCount.objects.exists())  # a group is ticked by name
        future = (self.today + datetime.timedelta(days=1)).isoformat()
        self.client.post("/attendance/record/head-count/", {"date": future, "group": "", "present": "5"})
        self.assertFalse(HeadCount.objects.exists())

    def test_it_adds_a_first_time_visitor_in_one_step(self):
        response = self.post("/attendance/record/visitor/", first_name="Vera", last_name="New",
                             email="vera@example.org", phone="(808) 555-7777")
        self.assertEqual(response.status_code, 302)
        vera = Member.objects.get(first_name="Vera")
        self.assertEqual((vera.status, vera.joined_on, vera.phone), ("visitor", self.today, "+18085557777"))
        self.assertTrue(Attendance.objects.filter(member=vera, date=self.today, group=None).exists())
        # At a group's meeting: on its roster too, and present there.
        self.post("/attendance/record/visitor/", first_name="Gil", last_name="Guest", group=str(self.youth.pk))
        gil = Member.objects.get(first_name="Gil")
        self.assertTrue(Membership.objects.filter(group=self.youth, member=gil).exists())
        self.assertTrue(Attendance.objects.filter(member=gil, group=self.youth).exists())
        self.assertEqual(_compute_summary(self.grace)["visitors"], 6)
        self.assertEqual(tallies.drift(self.grace.id), 0)

    def test_it_adds_no_visitor_when_any_part_is_refused(self):
        before = Member.objects.count()
        self.post("/attendance/record/visitor/", first_name="", last_name="X")
        self.post("/attendance/record/visitor/", first_name="Dup", last_name="X", email=self.people[0].email)
        archived = make_group(self.grace, "Old", archived=True)
        self.post("/attendance/record/visitor/", first_name="Arch", last_name="X", group=str(archived.pk))
        self.assertEqual(Member.objects.count(), before)

    def test_it_saves_ticks_of_other_pages_in_one_post(self):
        record(self.grace, [self.people[3]], self.today)
        ids = [p.pk for p in self.people]
        self.post("/attendance/record/save/", shown=[ids[0]], present=[ids[0]],
                  present_ids=f"{ids[1]},{ids[2]}", absent_ids=f"{ids[3]}", token="abcdef123456")
        present = set(Attendance.objects.filter(date=self.today, group=None).values_list("member_id", flat=True))
        self.assertEqual(present, {ids[0], ids[1], ids[2]})
        response = self.post("/attendance/record/save/", shown=[ids[0]], present_ids="x,1", token="abcdef123456")
        self.assertRedirects(response, f"/attendance/record/?date={self.today}&group=", fetch_redirect_response=False)
        self.assertEqual(Attendance.objects.filter(date=self.today).count(), 3)  # refused: nothing changed

    def test_it_echoes_the_save_token_only_after_a_save(self):
        response = self.post("/attendance/record/save/", shown=[self.people[0].pk], token="abcdef123456")
        self.assertTrue(response["Location"].endswith("&saved=abcdef123456"))
        response = self.post("/attendance/record/save/", shown=[self.people[0].pk], token="<script>")
        self.assertNotIn("saved=", response["Location"])

    def test_it_hides_inactive_people_unless_asked(self):
        Member.objects.filter(pk=self.people[0].pk).update(status="inactive")
        response = self.client.get("/attendance/record/", {"date": self.today.isoformat(), "group": ""})
        shown = {row.member.id for row in response.context["checklist"].page.object_list}
        self.assertNotIn(self.people[0].pk, shown)
        self.assertContains(response, "Show inactive people too")
        response = self.client.get("/attendance/record/", {"date": self.today.isoformat(), "group": "", "inactive": "1"})
        shown = {row.member.id for row in response.context["checklist"].page.object_list}
        self.assertIn(self.people[0].pk, shown)
        self.assertContains(response, "Hide inactive people")
