from __future__ import annotations

import datetime
from unittest import mock

from django.core.exceptions import ValidationError

from attendance.models import Attendance
from attendance.services import attendance_record
from cachemon import cache_aside, keys
from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase, church_day


class AttendanceRecordTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.today = church_day()
        cls.people = make_members(cls.grace, 5)
        cls.hope_people = make_members(cls.hope, 2, prefix="Hope")
        cls.youth = make_group(cls.grace, "Youth", cls.people[:3])
        cls.old = make_group(cls.grace, "Old choir", cls.people[:2], archived=True)

    def ids(self, members) -> list[str]:
        return [str(m.id) for m in members]

    def present(self, group=None, date=None) -> set[int]:
        qs = Attendance.objects.filter(date=date or self.today, group=group)
        return set(qs.values_list("member_id", flat=True))

    def test_it_records_the_ticked_people(self):
        result = attendance_record(
            church=self.grace, date=self.today, group=None,
            present_member_ids=self.ids(self.people[:2]), shown_member_ids=self.ids(self.people),
        )
        self.assertEqual(self.present(), {m.id for m in self.people[:2]})
        self.assertEqual((result.added, result.removed, result.headcount), (2, 0, 2))
        self.assertTrue(Attendance.objects.filter(church=self.grace).count() == 2)

    def test_it_removes_unticked_people_shown_on_the_page_only(self):
        record(self.grace, self.people, self.today)
        # The page showed people 0..2; 3 and 4 were on another page and keep their records.
        result = attendance_record(
            church=self.grace, date=self.today, group=None,
            present_member_ids=self.ids(self.people[:1]), shown_member_ids=self.ids(self.people[:3]),
        )
        self.assertEqual(self.present(), {self.people[0].id, self.people[3].id, self.people[4].id})
        self.assertEqual((result.added, result.removed, result.headcount), (0, 2, 3))

    def test_it_is_idempotent(self):
        for _ in range(2):
            result = attendance_record(
                church=self.grace, date=self.today, group=None,
                present_member_ids=self.ids(self.people[:2]), shown_member_ids=self.ids(self.people),
            )
        self.assertEqual(result.headcount, 2)
        self.assertEqual(Attendance.objects.count(), 2)

    def test_it_keeps_the_service_and_groups_apart(self):
        record(self.grace, self.people[:3], self.today)
        attendance_record(
            church=self.grace, date=self.today, group=self.youth,
            present_member_ids=self.ids(self.people[:1]), shown_member_ids=self.ids(self.people[:3]),
        )
        self.assertEqual(self.present(), {m.id for m in self.people[:3]})
        self.assertEqual(self.present(self.youth), {self.people[0].id})

    def test_it_ignores_people_off_the_group_roster(self):
        attendance_record(
            church=self.grace, date=self.today, group=self.youth,
            present_member_ids=self.ids(self.people), shown_member_ids=self.ids(self.people),
        )
        self.assertEqual(self.present(self.youth), {m.id for m in self.people[:3]})

    def test_it_ignores_another_churchs_members(self):
        record(self.hope, self.hope_people, self.today)
        # Hope's staff tick Grace's people and "untick" them: nothing of Grace's changes...
        record(self.grace, self.people[:1], self.today)
        attendance_record(
            church=self.hope, date=self.today, group=None,
            present_member_ids=self.ids(self.people[1:]), shown_member_ids=self.ids(self.people),
        )
        self.assertEqual(self.present() - {m.id for m in self.hope_people}, {self.people[0].id})
        # ...and Grace's staff cannot touch Hope's records either.
        attendance_record(
            church=self.grace, date=self.today, group=None,
            present_member_ids=[], shown_member_ids=self.ids(self.hope_people),
        )
        self.assertEqual(Attendance.objects.filter(church=self.hope).count(), 2)
        self.assertFalse(Attendance.objects.filter(church=self.hope, member__church=self.grace).exists())

    def test_it_refuses_a_future_date(self):
        tomorrow = self.today + datetime.timedelta(days=1)
        with self.assertRaisesMessage(ValidationError, "future"):
            attendance_record(
                church=self.grace, date=tomorrow, group=None,
                present_member_ids=self.ids(self.people), shown_member_ids=self.ids(self.people),
            )
        self.assertEqual(Attendance.objects.count(), 0)

    def test_it_refuses_an_archived_group(self):
        with self.assertRaisesMessage(ValidationError, "archived"):
            attendance_record(
                church=self.grace, date=self.today, group=self.old,
                present_member_ids=self.ids(self.people[:2]), shown_member_ids=self.ids(self.people[:2]),
            )
        self.assertEqual(Attendance.objects.count(), 0)

    def test_it_refuses_another_churchs_group(self):
        with self.assertRaises(ValidationError):
            attendance_record(
                church=self.hope, date=self.today, group=self.youth,
                present_member_ids=[], shown_member_ids=[],
            )

    def test_it_refuses_ids_that_are_not_numbers_and_changes_nothing(self):
        record(self.grace, self.people[:2], self.today)
        with self.assertRaisesMessage(ValidationError, "nothing was saved"):
            attendance_record(
                church=self.grace, date=self.today, group=None,
                present_member_ids=["1", "x"], shown_member_ids=self.ids(self.people),
            )
        self.assertEqual(self.present(), {m.id for m in self.people[:2]})

    def test_it_refuses_ids_out_of_range_and_changes_nothing(self):
        for bad in (["0"], ["-5"], [str(2**63)], ["1" * 40]):
            with self.subTest(bad=bad), self.assertRaisesMessage(ValidationError, "nothing was saved"):
                attendance_record(
                    church=self.grace, date=self.today, group=None, present_member_ids=bad, shown_member_ids=bad,
                )
        self.assertEqual(Attendance.objects.count(), 0)

    def test_it_invalidates_the_dashboard_on_commit(self):
        with mock.patch.object(cache_aside, "_bump") as bump:
            with self.captureOnCommitCallbacks(execute=False) as callbacks:
                attendance_record(
                    church=self.grace, date=self.today, group=None,
                    present_member_ids=self.ids(self.people[:1]), shown_member_ids=self.ids(self.people),
                )
            bump.assert_not_called()  # nothing is invalidated before the commit
            for callback in callbacks:
                callback()
        scope = keys.church_scope(self.grace.id)
        bump.assert_called_once_with([(ns, scope) for ns in keys.ATTENDANCE_WRITE])
        self.assertIn(keys.STATS, keys.ATTENDANCE_WRITE)
        self.assertIn(keys.DASHBOARD, keys.ATTENDANCE_WRITE)

    def test_it_makes_a_cached_dashboard_figure_stale_after_commit(self):
        calls = []

        def fetch():
            calls.append(1)
            return Attendance.objects.filter(church=self.grace).count()

        read = lambda: cache_aside.cached(keys.STATS, church_id=self.grace.id, parts=("t",), fetch=fetch, ttl=60)
        self.assertEqual(read(), 0)
        with self.captureOnCommitCallbacks(execute=True):
            attendance_record(
                church=self.grace, date=self.today, group=None,
                present_member_ids=self.ids(self.people[:2]), shown_member_ids=self.ids(self.people),
            )
        self.assertEqual(read(), 2)
        self.assertEqual(len(calls), 2)

    def test_it_does_not_invalidate_when_nothing_changed(self):
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            attendance_record(
                church=self.grace, date=self.today, group=None,
                present_member_ids=[], shown_member_ids=self.ids(self.people),
            )
        self.assertEqual(callbacks, [])
