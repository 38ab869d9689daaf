from __future__ import annotations

import datetime

from attendance.selectors import member_attendance_history
from tests.attendance.factories import make_group, make_members, record
from tests.base import FlockTestCase

DAY = datetime.date(2026, 11, 1)


class MemberAttendanceHistoryTestCase(FlockTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.ruth, cls.boaz = make_members(cls.grace, 2)
        cls.youth = make_group(cls.grace, "Youth", [cls.ruth])
        record(cls.grace, [cls.ruth], DAY)
        record(cls.grace, [cls.ruth], DAY + datetime.timedelta(days=7))
        record(cls.grace, [cls.ruth], DAY + datetime.timedelta(days=3), cls.youth)
        record(cls.grace, [cls.boaz], DAY + datetime.timedelta(days=14))

    def test_it_lists_newest_first_with_the_group_preloaded(self):
        with self.assertNumQueries(1):
            history = member_attendance_history(church=self.grace, member=self.ruth)
            shown = [(a.date, a.group.name if a.group else None) for a in history]
        self.assertEqual(shown, [
            (DAY + datetime.timedelta(days=7), None),
            (DAY + datetime.timedelta(days=3), "Youth"),
            (DAY, None),
        ])

    def test_it_honours_the_limit(self):
        history = member_attendance_history(church=self.grace, member=self.ruth, limit=2)
        self.assertEqual([a.date for a in history], [DAY + datetime.timedelta(days=7), DAY + datetime.timedelta(days=3)])

    def test_it_is_scoped_to_the_church(self):
        self.assertEqual(member_attendance_history(church=self.hope, member=self.ruth), [])

    def test_it_is_empty_for_someone_who_never_came(self):
        (newcomer,) = make_members(self.grace, 1, prefix="New")
        self.assertEqual(member_attendance_history(church=self.grace, member=newcomer), [])
