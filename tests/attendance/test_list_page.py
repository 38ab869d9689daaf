from __future__ import annotations

import datetime


from members.timezones import most_recent_weekday
from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase, church_day


class AttendanceListPageTestCase(FlockTestCase):
    url = "/attendance/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.today = church_day()
        cls.people = make_members(cls.grace, 4)
        cls.youth = make_group(cls.grace, "Youth", cls.people[:2])
        cls.choir = make_group(cls.grace, "Choir", cls.people[2:])
        cls.archived = make_group(cls.grace, "Old choir", archived=True)
        cls.hope_group = make_group(cls.hope, "Hope prayer")

    def test_it_requires_login(self):
        response = self.client.get(self.url)
        self.assertRedirects(response, f"/accounts/login/?next={self.url}", fetch_redirect_response=False)

    def test_it_sends_platform_admins_to_the_admin(self):
        self.login(self.dana)
        self.assertRedirects(self.client.get(self.url), "/admin/", fetch_redirect_response=False)

    def test_it_shows_an_empty_state(self):
        self.login(self.alice)
        response = self.client.get(self.url)
        self.assertContains(response, "No attendance recorded yet")

    def test_it_offers_the_service_and_the_live_groups_with_today_as_default(self):
        self.login(self.alice)
        response = self.client.get(self.url)
        # The most recent service day (the church's, Sunday by default), each group's own (these have
        # no meeting day: today).
        sunday = most_recent_weekday(self.today, 6)
        self.assertContains(response, f'value="{sunday:%Y-%m-%d}"')
        self.assertContains(response, f'<option value="" data-date="{sunday}" selected>Service</option>', html=True)
        self.assertContains(response, f'<option value="{self.youth.id}" data-date="{self.today}">Youth</option>', html=True)
        self.assertContains(response, f'<option value="{self.choir.id}" data-date="{self.today}">Choir</option>', html=True)
        self.assertNotContains(response, "Old choir")
        self.assertNotContains(response, "Hope prayer")

    def test_it_offers_groups_as_they_are_created_and_archived(self):
        from members.services import group_create, group_update

        self.login(self.alice)
        self.assertContains(self.client.get(self.url), ">Youth</option>")  # now cached
        with self.captureOnCommitCallbacks(execute=True):
            group_update(group=self.youth, data={"archived": True})
            created = group_create(church=self.grace, data={"name": "Ushers", "kind": "service_team"})
        response = self.client.get(self.url)
        self.assertNotContains(response, ">Youth</option>")
        self.assertContains(response, f'<option value="{created.id}" data-date="{self.today}">Ushers</option>', html=True)

    def test_it_keeps_the_chosen_group_when_the_start_form_is_wrong(self):
        self.login(self.alice)
        response = self.client.get("/attendance/record/", {"date": "31/12/2020", "group": self.choir.id})
        self.assertContains(response, "Enter a date as YYYY-MM-DD", status_code=400)
        self.assertContains(response, f'<option value="{self.choir.id}" data-date="{self.today}" selected>Choir</option>',
                            html=True, status_code=400)

    def test_it_lists_sessions_with_headcounts_and_edit_links(self):
        day = self.today - datetime.timedelta(days=2)
        record(self.grace, self.people, day)
        record(self.grace, self.people[:2], day, self.youth)
        record(self.hope, make_members(self.hope, 3, prefix="Hope"), day)
        self.login(self.alice)
        response = self.client.get(self.url)
        service = f'data-session="{day:%Y-%m-%d}:service"'
        youth = f'data-session="{day:%Y-%m-%d}:{self.youth.id}"'
        self.assertContains(response, service)
        self.assertContains(response, youth)
        sessions = response.context["sessions"].object_list
        self.assertEqual([(s.group_name, s.headcount) for s in sessions], [("Service", 4), ("Youth", 2)])
        self.assertContains(response, f'href="/attendance/record/?date={day:%Y-%m-%d}&amp;group="')
        self.assertContains(response, f'href="/attendance/record/?date={day:%Y-%m-%d}&amp;group={self.youth.id}"')

    def test_it_never_shows_another_churchs_sessions(self):
        record(self.hope, make_members(self.hope, 3, prefix="Hope"), self.today)
        self.login(self.alice)
        response = self.client.get(self.url)
        self.assertContains(response, "No attendance recorded yet")

    def test_it_paginates_sessions_newest_first(self):
        for days in range(30):
            record(self.grace, self.people[:1], self.today - datetime.timedelta(days=days))
        self.login(self.alice)
        first = self.client.get(self.url).context["sessions"]
        self.assertEqual(len(first.object_list), 25)
        self.assertEqual(first.object_list[0].date, self.today)
        second = self.client.get(self.url, {"page": 2}).context["sessions"]
        self.assertEqual([s.date for s in second.object_list], [self.today - datetime.timedelta(days=d) for d in range(25, 30)])
        self.assertContains(self.client.get(self.url), 'href="?page=2" rel="next"')
        self.assertContains(self.client.get(self.url, {"page": 2}), 'href="?page=1" rel="prev"')
        self.assertNotContains(self.client.get(self.url, {"page": 2}), 'rel="next"')
        self.assertEqual(self.client.get(self.url, {"page": "zzz"}).context["sessions"].number, 1)
        self.assertContains(self.client.get(self.url, {"page": 9}), "No older sessions")
        self.assertContains(self.client.get(self.url, {"page": "9" * 30}), "No older sessions")

    def _queries(self) -> None:
        self.client.get(self.url)  # warm the cached login
        with self.assertNumQueries(2):  # one page of sessions, their group names (the choices are cached)
            self.client.get(self.url)

    def test_it_runs_the_same_number_of_queries_whatever_the_rows(self):
        self.login(self.alice)
        record(self.grace, self.people[:1], self.today, self.youth)
        self._queries()
        for days in range(1, 10):
            day = self.today - datetime.timedelta(days=days)
            record(self.grace, self.people, day)
            record(self.grace, self.people[:2], day, self.youth)
            record(self.grace, self.people[2:], day, self.choir)
        self._queries()
