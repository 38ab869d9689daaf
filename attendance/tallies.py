"""Attendance per date (AttendanceDay) and per session (SessionCount), kept exact by the
attendance and member services.

The dashboard's weekly attendance reads at most 84 AttendanceDay rows instead of counting every
record of 12 weeks (242 ms at 100,000 members); the recent-sessions list reads 25 SessionCount
rows instead of counting its sessions' records (28-50 ms when the newest session is a Sunday
service of 40,000). See members/tallies.py for the whole scheme.

Writers of one church-date take its row's lock first (`lock_day`): two staff saving checklists
for the same Sunday are serialized for the few milliseconds of the save, so a headcount delta
is always computed against committed rows.
"""

from __future__ import annotations

import datetime

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, F, Q

from .models import Attendance, AttendanceDay, SessionCount


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


def add(day: AttendanceDay, *, group_id: int | None, delta: int) -> None:
    """Add `delta` people present to a session of a locked day (the service when `group_id` is
    None): to the day's service or groups figure and to the session's own count."""
    if not delta:
        return
    column = "service" if group_id is None else "groups"
    AttendanceDay.objects.filter(pk=day.pk).update(**{column: F(column) + delta})
    # The day's lock serializes every writer of its sessions: update-or-create cannot race.
    session = SessionCount.objects.filter(church_id=day.church_id, date=day.date, group_id=group_id)
    if not session.update(present=F("present") + delta):
        SessionCount.objects.create(church_id=day.church_id, date=day.date, group_id=group_id, present=delta)


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
    """Take a member's records off the days and sessions they were present at: call with the
    member's row locked (no record for them can be added meanwhile), before the delete."""
    per_day = _member_days(church_id, member_id)
    days = _lock_days(church_id, per_day)
    for day in days:
        service, groups = per_day[day.date]
        day.service -= service
        day.groups -= groups
    AttendanceDay.objects.bulk_update(days, ["service", "groups"], batch_size=500)
    sessions = set(Attendance.objects.filter(church_id=church_id, member_id=member_id)
                   .values_list("date", "group_id"))
    counts = [c for c in SessionCount.objects.filter(church_id=church_id, date__in=list(per_day))
              if (c.date, c.group_id) in sessions]
    for count in counts:
        count.present -= 1  # one record per member and session (the attendance constraints)
    SessionCount.objects.bulk_update(counts, ["present"], batch_size=500)


def computed_days(church_id: int, *, apps=global_apps) -> dict[datetime.date, tuple[int, int]]:
    """(service, groups) per date, as the attendance table says."""
    model = apps.get_model("attendance", "Attendance")
    rows = (
        model.objects.filter(church_id=church_id).order_by().values("date")
        .annotate(service=Count("id", filter=Q(group__isnull=True)), groups=Count("id", filter=Q(group__isnull=False)))
        .values_list("date", "service", "groups")
    )
    return {day: (service, groups) for day, service, groups in rows}


def computed_sessions(church_id: int, *, apps=global_apps) -> dict[tuple[datetime.date, int | None], int]:
    """People present per (date, group), as the attendance table says."""
    model = apps.get_model("attendance", "Attendance")
    rows = model.objects.filter(church_id=church_id).order_by().values("date", "group_id").annotate(n=Count("*"))
    return {(row["date"], row["group_id"]): row["n"] for row in rows}


def rebuild_church(church_id: int, *, apps=global_apps) -> None:
    """Recompute the church's days and sessions from its attendance records
    (members.tallies.rebuild_church calls this inside its transaction, with the church's row locked)."""
    with transaction.atomic():
        rebuild_days(church_id, apps=apps)
        rebuild_sessions(church_id, apps=apps)


def rebuild_days(church_id: int, *, apps=global_apps) -> None:
    """The days' half of `rebuild_church` (the migration that created them runs it alone)."""
    model = apps.get_model("attendance", "AttendanceDay")
    with transaction.atomic():
        model.objects.filter(church_id=church_id).delete()
        model.objects.bulk_create([
            model(church_id=church_id, date=day, service=service, groups=groups)
            for day, (service, groups) in sorted(computed_days(church_id, apps=apps).items())
        ], batch_size=1000)


def rebuild_sessions(church_id: int, *, apps=global_apps) -> None:
    """The sessions' half of `rebuild_church` (the migration that created them runs it alone)."""
    model = apps.get_model("attendance", "SessionCount")
    with transaction.atomic():
        model.objects.filter(church_id=church_id).delete()
        model.objects.bulk_create([
            model(church_id=church_id, date=day, group_id=group_id, present=n)
            for (day, group_id), n in computed_sessions(church_id, apps=apps).items()
        ], batch_size=1000)


def drift(church_id: int) -> int:
    """How many dates' and sessions' stored counts differ from the records (0 when exact)."""
    stored = {
        day: (service, groups) for day, service, groups in
        AttendanceDay.objects.filter(church_id=church_id).exclude(service=0, groups=0)
        .values_list("date", "service", "groups")
    }
    computed = computed_days(church_id)
    days = sum(1 for day in set(stored) | set(computed) if stored.get(day, (0, 0)) != computed.get(day, (0, 0)))
    stored_sessions = {
        (day, group_id): n for day, group_id, n in
        SessionCount.objects.filter(church_id=church_id).exclude(present=0).values_list("date", "group_id", "present")
    }
    counted = computed_sessions(church_id)
    return days + sum(1 for key in set(stored_sessions) | set(counted)
                      if stored_sessions.get(key, 0) != counted.get(key, 0))


def per_day(church_id: int, start: datetime.date, end: datetime.date) -> list[tuple[datetime.date, int, int]]:
    """(date, service, groups) for the church's days from `start` to `end`, in date order."""
    return list(
        AttendanceDay.objects.filter(church_id=church_id, date__gte=start, date__lte=end).exclude(service=0, groups=0)
        .order_by("date").values_list("date", "service", "groups")
    )
