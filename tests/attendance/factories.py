"""Small builders for attendance tests (members, groups with rosters, records)."""

from __future__ import annotations

import datetime

from attendance.models import Attendance
from members import tallies
from members.models import Church, Group, Member, Membership


# Rows are written with the ORM, not through the services that keep the counters
# (members.tallies): each builder recounts the church, as seed_demo does.

def make_members(church: Church, n: int, *, prefix: str = "Person") -> list[Member]:
    made = Member.objects.bulk_create(
        [
            Member(church=church, first_name=f"{prefix}{i:03d}", last_name=church.slug.title(),
                   email=f"{prefix.lower()}{i:03d}@{church.slug}.test")
            for i in range(n)
        ]
    )
    tallies.rebuild_church(church.id)
    return made


def make_group(church: Church, name: str, members: list[Member] = (), *, archived: bool = False) -> Group:
    group = Group.objects.create(church=church, name=name, archived=archived)
    Membership.objects.bulk_create([Membership(group=group, member=m) for m in members])
    tallies.rebuild_church(church.id)
    return group


def record(church: Church, members: list[Member], date: datetime.date, group: Group | None = None) -> None:
    Attendance.objects.bulk_create([Attendance(church=church, member=m, group=group, date=date) for m in members])
    tallies.rebuild_church(church.id)
