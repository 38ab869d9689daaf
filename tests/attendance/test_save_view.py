from __future__ import annotations

import datetime

from django.contrib.messages import get_messages

from attendance.models import Attendance
from cachemon import cache_aside, keys
from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase, church_day


class AttendanceSaveViewTestCase(FlockTestCase):
    url = "/attendance/record/save/"

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.today = church_day()
        cls.people = make_members(cls.grace, 4)
        cls.hope_people = make_members(cls.hope, 2, prefix="Hopeful")
        cls.youth = make_group(cls.grace, "Youth", cls.people[:3])
        cls.archived = make_group(cls.grace, "Old choir", cls.people, archived=True)

    def post(self, *, present=(), shown=(), date=None, group=None, **extra):
        data = {
            "date": date if date is not None else self.today.isoformat(),
            "group": "" if group is None else group,
            "present": [str(m.id) for m in present],
            "shown": [str(m.id) for m in shown],
            **extra,
        }
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(self.url, data)

    def present(self, group=None) -> set[int]:
        return set(Attendance.objects.filter(date=self.today, group=group).values_list("member_id", flat=True))

    def messages(self, response) -> list[str]:
        return [str(m) for m in get_messages(response.wsgi_request)]

    def test_it_rejects_get(self):
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url).status_code, 405)

    def test_it_requires_login(self):
        response = self.post(present=self.people, shown=self.people)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/accounts/login/"))
        self.assertEqual(Attendance.objects.count(), 0)

    def test_it_saves_and_says_how_many_were_present(self):
        self.login(self.alice)
        response = self.post(present=self.people[:3], shown=self.people, q="person", page="1")
        self.assertRedirects(
            response, f"/attendance/record/?date={self.today.isoformat()}&group=&q=person",
            fetch_redirect_response=False,
        )
        self.assertEqual(self.present(), {m.id for m in self.people[:3]})
        (message,) = self.messages(response)
        self.assertIn("Attendance saved for Service", message)
        self.assertIn("3 present", message)

    def test_it_saves_a_group_meeting_and_returns_to_the_page(self):
        self.login(self.bob)
        response = self.post(present=self.people[:2], shown=self.people[:3], group=self.youth.id, page="2")
        self.assertRedirects(
            response, f"/attendance/record/?date={self.today.isoformat()}&group={self.youth.id}&page=2",
            fetch_redirect_response=False,
        )
        self.assertEqual(self.present(self.youth), {m.id for m in self.people[:2]})
        self.assertIn("Attendance saved for Youth", self.messages(response)[0])

    def test_it_marks_everyone_on_the_page_present(self):
        self.login(self.alice)
        response = self.post(present=[], shown=self.people[:3], group=self.youth.id, everyone="1")
        self.assertEqual(self.present(self.youth), {m.id for m in self.people[:3]})
        self.assertIn("3 present", self.messages(response)[0])

    def test_it_removes_unticked_people(self):
        record(self.grace, self.people, self.today)
        self.login(self.alice)
        self.post(present=self.people[:1], shown=self.people[:3])
        self.assertEqual(self.present(), {self.people[0].id, self.people[3].id})

    def test_it_is_404_for_another_churchs_group_and_changes_nothing(self):
        record(self.grace, self.people[:1], self.today, self.youth)
        self.login(self.charlie)
        response = self.post(present=self.people[1:3], shown=self.people[:3], group=self.youth.id)
        self.assertEqual(response.status_code, 404)
        self.assertEqual(self.present(self.youth), {self.people[0].id})

    def test_it_ignores_another_churchs_members(self):
        record(self.grace, self.people[:1], self.today)
        self.login(self.charlie)
        response = self.post(present=self.people[1:] + self.hope_people[:1], shown=self.people + self.hope_people)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(set(Attendance.objects.filter(church=self.grace).values_list("member_id", flat=True)),
                         {self.people[0].id})
        self.assertFalse(Attendance.objects.filter(church=self.hope, member__church=self.grace).exists())
        self.assertEqual(set(Attendance.objects.filter(church=self.hope).values_list("member_id", flat=True)),
                         {self.hope_people[0].id})

    def test_it_explains_bad_input_and_changes_nothing(self):
        record(self.grace, self.people[:2], self.today)
        self.login(self.alice)
        tomorrow = (self.today + datetime.timedelta(days=1)).isoformat()
        cases = [
            ({"date": "not-a-date"}, "Enter a date as YYYY-MM-DD"),
            ({"date": tomorrow}, "future"),
            ({"group": "abc"}, "Choose the service or one of"),
            ({"group": self.archived.id}, "is archived"),
            ({"extra": {"present": ["1", "x"]}}, "nothing was saved"),
        ]
        for params, expected in cases:
            with self.subTest(params=params):
                extra = params.pop("extra", {})
                data = {"date": self.today.isoformat(), "group": "", "shown": [str(m.id) for m in self.people]}
                data.update(params)
                data.update(extra)
                response = self.client.post(self.url, data)
                self.assertEqual(response.status_code, 302)
                self.assertTrue(any(expected in m for m in self.messages(response)), self.messages(response))
                self.assertEqual(self.present(), {m.id for m in self.people[:2]})
        self.assertEqual(Attendance.objects.count(), 2)

    def test_it_invalidates_the_dashboard_figures_on_commit(self):
        computed = []

        def figure():
            computed.append(1)
            return Attendance.objects.filter(church=self.grace).count()

        def read(namespace):
            return cache_aside.cached(namespace, church_id=self.grace.id, parts=("test",), fetch=figure, ttl=60)

        hope_reads = []
        read_hope = lambda: cache_aside.cached(  # noqa: E731
            keys.STATS, church_id=self.hope.id, parts=("test",), fetch=lambda: hope_reads.append(1) or 0, ttl=60,
        )
        self.assertEqual((read(keys.STATS), read(keys.DASHBOARD)), (0, 0))
        read_hope()
        self.login(self.alice)
        self.post(present=self.people[:3], shown=self.people)
        self.assertEqual((read(keys.STATS), read(keys.DASHBOARD)), (3, 3))
        self.assertEqual(len(computed), 4)
        read_hope()
        self.assertEqual(len(hope_reads), 1)  # another church's cache is left alone
