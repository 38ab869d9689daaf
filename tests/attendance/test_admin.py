from __future__ import annotations

import datetime

from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase

DAY = datetime.date(2026, 10, 4)


class AttendanceAdminTestCase(FlockTestCase):
    url = "/admin/attendance/attendance/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.people = make_members(cls.grace, 3)
        cls.youth = make_group(cls.grace, "Youth", cls.people)

    def test_it_is_for_platform_admins_only(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url).status_code, 302)

    def test_it_lists_records_with_a_fixed_number_of_queries(self):
        self.login(self.dana)
        record(self.grace, self.people[:1], DAY)
        self.client.get(self.url)  # warm the cached login
        with self.assertNumQueries(5) as ctx:
            response = self.client.get(self.url)
        self.assertContains(response, "Person000")
        small = len(ctx.captured_queries)
        record(self.grace, self.people, DAY, self.youth)
        record(self.grace, self.people[1:], DAY + datetime.timedelta(days=7))
        with self.assertNumQueries(small):
            response = self.client.get(self.url)
        self.assertContains(response, "Youth")

    def test_it_filters_by_date_and_opens_a_record(self):
        self.login(self.dana)
        record(self.grace, self.people[:1], DAY)
        response = self.client.get(self.url, {"date__year": 2026, "date__month": 10})
        self.assertContains(response, "Person000")
        record_id = response.context["cl"].result_list[0].id
        self.assertEqual(self.client.get(f"{self.url}{record_id}/change/").status_code, 200)
