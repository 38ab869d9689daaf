from __future__ import annotations

import datetime


from tests.attendance.factories import make_group, make_members, record
from members.timezones import most_recent_weekday
from tests.base import FlockTestCase, church_day


class AttendanceChecklistPageTestCase(FlockTestCase):
    url = "/attendance/record/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.today = church_day()
        cls.day = cls.today - datetime.timedelta(days=1)
        cls.people = make_members(cls.grace, 4)
        cls.hope_people = make_members(cls.hope, 2, prefix="Hopeful")
        cls.youth = make_group(cls.grace, "Youth", cls.people[:2])
        cls.archived = make_group(cls.grace, "Old choir", cls.people[2:], archived=True)
        cls.hope_group = make_group(cls.hope, "Hope prayer", cls.hope_people)

    def get(self, **params):
        params.setdefault("date", self.day.isoformat())
        params.setdefault("group", "")
        return self.client.get(self.url, params)

    def checkbox(self, member, checked: bool) -> str:
        return (f'<input type="checkbox" name="present" value="{member.id}" data-initial="{int(checked)}"'
                f'{" checked" if checked else ""}>')

    def test_it_requires_login(self):
        response = self.get()
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/accounts/login/"))

    def test_it_lists_the_churchs_members_for_the_service_with_ticks(self):
        record(self.grace, self.people[:1], self.day)
        record(self.grace, self.people[1:2], self.day, self.youth)  # a group meeting is not the service
        self.login(self.alice)
        response = self.get()
        self.assertContains(response, "Service")
        self.assertContains(response, self.checkbox(self.people[0], True), html=True)
        for member in self.people[1:]:
            self.assertContains(response, self.checkbox(member, False), html=True)
            self.assertContains(response, f'<input type="hidden" name="shown" value="{member.id}">', html=True)
        self.assertNotContains(response, "Hopeful")
        self.assertContains(response, '<span data-stat="headcount">1</span>', html=True)
        self.assertContains(response, "Save attendance")

    def test_it_lists_only_the_groups_roster(self):
        record(self.grace, self.people[1:2], self.day, self.youth)
        self.login(self.alice)
        response = self.get(group=self.youth.id)
        self.assertContains(response, "Youth")
        self.assertContains(response, self.checkbox(self.people[0], False), html=True)
        self.assertContains(response, self.checkbox(self.people[1], True), html=True)
        self.assertNotContains(response, f'name="shown" value="{self.people[2].id}"')

    def test_it_shows_an_empty_roster(self):
        empty = make_group(self.grace, "Empty")
        self.login(self.alice)
        self.assertContains(self.get(group=empty.id), "has nobody on its roster yet")

    def test_it_searches(self):
        self.login(self.alice)
        response = self.get(q="person001")
        self.assertContains(response, self.checkbox(self.people[1], False), html=True)
        self.assertNotContains(response, f'name="shown" value="{self.people[0].id}"')
        self.assertContains(self.get(q="nobody-like-this"), "Nobody matches")
        # The member directory's search: a phone typed any way finds the E.164 number.
        type(self.people[3]).objects.filter(pk=self.people[3].pk).update(phone="+15551230003")
        response = self.get(q="(555) 123-0003")
        self.assertEqual([r.member.id for r in response.context["checklist"].page.object_list], [self.people[3].id])

    def test_it_paginates_a_big_church_at_100(self):
        make_members(self.grace, 146, prefix="Crowd")  # 150 in all
        self.login(self.alice)
        first = self.get().context["checklist"].page
        self.assertEqual((len(first.object_list), first.paginator.num_pages), (100, 2))
        response = self.get(page=2)
        self.assertEqual(len(response.context["checklist"].page.object_list), 50)
        self.assertContains(response, '<input type="hidden" name="page" value="2">', html=True)

    def test_it_explains_a_bad_date_and_changes_nothing(self):
        self.login(self.alice)
        for bad in ("2026-13-45", "yesterday"):
            response = self.get(date=bad)
            self.assertEqual(response.status_code, 400, bad)
            self.assertContains(response, "Enter a date as YYYY-MM-DD", status_code=400)
        # No date at all is not an error: the session's most recent meeting day (the service's here).
        self.assertRedirects(self.get(date=""), f"/attendance/record/?date={most_recent_weekday(self.today, 6)}&group=")

    def test_it_refuses_a_future_date(self):
        self.login(self.alice)
        response = self.get(date=(self.today + datetime.timedelta(days=1)).isoformat())
        self.assertContains(response, "cannot be recorded for a date in the future", status_code=400)

    def test_it_explains_a_bad_group(self):
        self.login(self.alice)
        for bad in ("abc", "-1", "²", "9" * 30):
            self.assertContains(self.get(group=bad), "Choose the service or one of", status_code=400)

    def test_it_shows_the_last_page_for_a_page_past_the_end(self):
        self.login(self.alice)
        for page in ("9" * 30, "zzz", "-3"):
            response = self.get(page=page)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(len(response.context["checklist"].page.object_list), 4)

    def test_it_refuses_an_archived_group(self):
        self.login(self.alice)
        self.assertContains(self.get(group=self.archived.id), "is archived", status_code=400)

    def test_it_is_404_for_another_churchs_group(self):
        self.login(self.charlie)
        self.assertEqual(self.get(group=self.youth.id).status_code, 404)
        self.assertEqual(self.get(group=999999).status_code, 404)
        self.assertEqual(self.get(group=self.hope_group.id).status_code, 200)

    def test_it_shows_hope_staff_only_hopes_members(self):
        self.login(self.charlie)
        response = self.get()
        self.assertContains(response, "Hopeful")
        for member in self.people:
            self.assertNotContains(response, f'name="shown" value="{member.id}"')

    def _queries(self, **params) -> None:
        self.get(**params)  # warm the cached login
        # Members count + page, their ticks, the headcount; and the group itself for a group, the
        # head count for the service.
        with self.assertNumQueries(5):
            self.get(**params)

    def test_it_runs_the_same_number_of_queries_whatever_the_rows(self):
        self.login(self.alice)
        record(self.grace, self.people[:1], self.day)
        record(self.grace, self.people[:1], self.day, self.youth)
        self._queries()
        self._queries(group=self.youth.id)
        crowd = make_members(self.grace, 60, prefix="Crowd")
        record(self.grace, crowd[:40], self.day)
        self.youth.memberships.model.objects.bulk_create(
            [self.youth.memberships.model(group=self.youth, member=m) for m in crowd]
        )
        record(self.grace, crowd[:30], self.day, self.youth)
        self._queries()
        self._queries(group=self.youth.id)
