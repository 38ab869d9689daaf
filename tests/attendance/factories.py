"""Small builders for attendance tests (members, groups with rosters, records)."""

from __future__ import annotations

import datetime

from attendance.models import Attendance
from members.models import Church, Group, Member, Membership


def make_members(church: Church, n: int, *, prefix: str = "Person") -> list[Member]:
    return Member.objects.bulk_create(
        [
            Member(church=church, first_name=f"{prefix}{i:03d}", last_name=church.slug.title(),
                   email=f"{prefix.lower()}{i:03d}@{church.slug}.test")
            for i in range(n)
        ]
    )


def make_group(church: Church, name: str, members: list[Member] = (), *, archived: bool = False) -> Group:
    group = Group.objects.create(church=church, name=name, archived=archived)
    Membership.objects.bulk_create([Membership(group=group, member=m) for m in members])
    return group


def record(church: Church, members: list[Member], date: datetime.date, group: Group | None = None) -> None:
    Attendance.objects.bulk_create([Attendance(church=church, member=m, group=group, date=date) for m in members])
