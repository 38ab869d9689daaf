"""Attendance per date (AttendanceDay), kept exact by the attendance and member services.

The dashboard's weekly attendance reads at most 84 of these rows instead of counting every
record of 12 weeks (148 ms at 100,000 members). See members/tallies.py for the whole scheme.

Writers of one church-date take its row's lock first (`lock_day`): two staff saving checklists
for the same Sunday are serialized for the few milliseconds of the save, so a headcount delta
is always computed against committed rows.
"""

from __future__ import annotations

import datetime

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, Q

from .models import Attendance, AttendanceDay


def lock_day(church_id: int, date: datetime.date) -> AttendanceDay:
    """The church's row for `date`, created when missing, locked until the transaction ends."""
    ops = connection.ops
    table = ops.quote_name(AttendanceDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (church_id, date, service, groups) VALUES (%s, %s, 0, 0) "
            f"ON CONFLICT (church_id, date) DO NOTHING",
            [church_id, ops.adapt_datefield_value(date)],
        )
    return AttendanceDay.objects.select_for_update().get(church_id=church_id, date=date)


def add(day: AttendanceDay, *, service: int = 0, groups: int = 0) -> None:
    """Add to a locked day's counts."""
    if service or groups:
        AttendanceDay.objects.filter(pk=day.pk).update(service=day.service + service, groups=day.groups + groups)


def _member_days(church_id: int, member_id: int) -> dict[datetime.date, tuple[int, int]]:
    return {
        day: (service, groups) for day, service, groups in
        Attendance.objects.filter(church_id=church_id, member_id=member_id).order_by()
        .values("date").annotate(service=Count("id", filter=Q(group__isnull=True)),
                                 groups=Count("id", filter=Q(group__isnull=False)))
        .values_list("date", "service", "groups")
    }


def _lock_days(church_id: int, dates) -> list[AttendanceDay]:
    # In date order, as every writer of several days locks them: no waiting in a circle.
    return list(AttendanceDay.objects.select_for_update().filter(church_id=church_id, date__in=list(dates))
                .order_by("date"))


def lock_member_days(church_id: int, member_id: int) -> None:
    """Lock the days a member has records on; member_delete calls this before it locks the
    member's row. A checklist save holds its day's lock while its inserts take a key-share lock
    on the member's row: locking the member first and the days after could wait in a circle."""
    _lock_days(church_id, _member_days(church_id, member_id))


def member_deleted(church_id: int, member_id: int) -> None:
    """Take a member's records off the days they were present on: call with the member's row
    locked (no record for them can be added meanwhile), before the delete."""
    per_day = _member_days(church_id, member_id)
    days = _lock_days(church_id, per_day)
    for day in days:
        service, groups = per_day[day.date]
        day.service -= service
        day.groups -= groups
    AttendanceDay.objects.bulk_update(days, ["service", "groups"], batch_size=500)


def computed_days(church_id: int, *, apps=global_apps) -> dict[datetime.date, tuple[int, int]]:
    """(service, groups) per date, as the attendance table says."""
    model = apps.get_model("attendance", "Attendance")
    rows = (
        model.objects.filter(church_id=church_id).order_by().values("date")
        .annotate(service=Count("id", filter=Q(group__isnull=True)), groups=Count("id", filter=Q(group__isnull=False)))
        .values_list("date", "service", "groups")
    )
    return {day: (service, groups) for day, service, groups in rows}


def rebuild_church(church_id: int, *, apps=global_apps) -> None:
    """Recompute the church's days from its attendance records (members.tallies.rebuild_church
    calls this inside its transaction, with the church's row locked; the migration that
    created the table, for every church)."""
    model = apps.get_model("attendance", "AttendanceDay")
    with transaction.atomic():
        model.objects.filter(church_id=church_id).delete()
        model.objects.bulk_create([
            model(church_id=church_id, date=day, service=service, groups=groups)
            for day, (service, groups) in sorted(computed_days(church_id, apps=apps).items())
        ], batch_size=1000)


def drift(church_id: int) -> int:
    """How many dates' stored counts differ from the records (0 when exact)."""
    stored = {
        day: (service, groups) for day, service, groups in
        AttendanceDay.objects.filter(church_id=church_id).exclude(service=0, groups=0)
        .values_list("date", "service", "groups")
    }
    computed = computed_days(church_id)
    return sum(1 for day in set(stored) | set(computed) if stored.get(day, (0, 0)) != computed.get(day, (0, 0)))


def per_day(church_id: int, start: datetime.date, end: datetime.date) -> list[tuple[datetime.date, int, int]]:
    """(date, service, groups) for the church's days from `start` to `end`, in date order."""
    return list(
        AttendanceDay.objects.filter(church_id=church_id, date__gte=start, date__lte=end).exclude(service=0, groups=0)
        .order_by("date").values_list("date", "service", "groups")
    )
