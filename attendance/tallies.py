"""Attendance per date (AttendanceDay) and per session (SessionCount), kept exact by the
attendance and member services.

A service may also have a head count (HeadCount: "240 present", counted rather than named): the
day's and the session's `counted` column holds it, and the figures take the larger of it and
the people named (`set_counted`).

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
from collections.abc import Mapping

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, F
from django.db.models.functions import Greatest

from .models import Attendance, AttendanceDay, HeadCount, SessionCount


def lock_day(church_id: int, date: datetime.date) -> AttendanceDay:
    """The church's row for `date`, created when missing, locked until the transaction ends."""
    ops = connection.ops
    table = ops.quote_name(AttendanceDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (church_id, date, service, groups, counted) VALUES (%s, %s, 0, 0, 0) "
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


def set_counted(day: AttendanceDay, present: int) -> None:
    """Make `present` (0: none) the head count of the locked day's service, on the day's and the
    service session's counters (HeadCount is the caller's row)."""
    AttendanceDay.objects.filter(pk=day.pk).update(counted=present)
    session = SessionCount.objects.filter(church_id=day.church_id, date=day.date, group_id=None)
    if not session.update(counted=present) and present:
        SessionCount.objects.create(church_id=day.church_id, date=day.date, group_id=None, counted=present)


Sessions = Mapping[tuple[datetime.date, int | None], int]  # people present per (date, group id or None)
Counted = Mapping[datetime.date, int]  # the service's head count per date


def days_of(sessions: Sessions) -> dict[datetime.date, tuple[int, int]]:
    """(service, groups) per date: the sessions' counts summed by date."""
    days: dict[datetime.date, tuple[int, int]] = {}
    for (day, group_id), n in sessions.items():
        service, groups = days.get(day, (0, 0))
        days[day] = (service + n, groups) if group_id is None else (service, groups + n)
    return days


def _member_sessions(church_id: int, member_id: int) -> dict[tuple[datetime.date, int | None], int]:
    # One record per member and session (the attendance constraints): each counts 1.
    return dict.fromkeys(
        Attendance.objects.filter(church_id=church_id, member_id=member_id).values_list("date", "group_id"), 1)


def _lock_days(church_id: int, dates) -> list[AttendanceDay]:
    # In date order, as every writer of several days locks them: no waiting in a circle.
    return list(AttendanceDay.objects.select_for_update().filter(church_id=church_id, date__in=list(dates))
                .order_by("date"))


def lock_member_days(church_id: int, member_id: int) -> None:
    """Lock the days a member has records on; member_delete calls this before it locks the
    member's row. A checklist save holds its day's lock while its inserts take a key-share lock
    on the member's row: locking the member first and the days after could wait in a circle."""
    _lock_days(church_id, {day for day, _ in _member_sessions(church_id, member_id)})


def member_deleted(church_id: int, member_id: int) -> None:
    """Take a member's records off the days and sessions they were present at: call with the
    member's row locked (no record for them can be added meanwhile), before the delete."""
    sessions = _member_sessions(church_id, member_id)
    per_day = days_of(sessions)
    days = _lock_days(church_id, per_day)
    for day in days:
        service, groups = per_day[day.date]
        day.service -= service
        day.groups -= groups
    AttendanceDay.objects.bulk_update(days, ["service", "groups"], batch_size=500)
    counts = [c for c in SessionCount.objects.filter(church_id=church_id, date__in=list(per_day))
              if (c.date, c.group_id) in sessions]
    for count in counts:
        count.present -= 1
    SessionCount.objects.bulk_update(counts, ["present"], batch_size=500)


def computed_sessions(church_id: int, *, apps=global_apps) -> dict[tuple[datetime.date, int | None], int]:
    """People present per (date, group), as the attendance table says."""
    model = apps.get_model("attendance", "Attendance")
    rows = model.objects.filter(church_id=church_id).order_by().values("date", "group_id").annotate(n=Count("*"))
    return {(row["date"], row["group_id"]): row["n"] for row in rows}


def computed_counted(church_id: int) -> dict[datetime.date, int]:
    """The service's head count per date, as the HeadCount table says."""
    return dict(HeadCount.objects.filter(church_id=church_id, present__gt=0).values_list("date", "present"))


def store(church_id: int, sessions: Sessions, counted: Counted | None = None) -> None:
    """Replace the church's days and sessions with these counts (`rebuild_church`, and
    seed_demo with the counts of the rows it generated)."""
    counted = counted or {}
    with transaction.atomic():
        _store_days(church_id, days_of(sessions), global_apps, counted)
        _store_sessions(church_id, sessions, global_apps, counted)


def rebuild_church(church_id: int) -> None:
    """Recompute the church's days and sessions from its attendance records and head counts
    (members.tallies.rebuild_church calls this inside its transaction, with the church's row locked)."""
    store(church_id, computed_sessions(church_id), computed_counted(church_id))


def rebuild_days(church_id: int, *, apps=global_apps) -> None:
    """The days alone, for the migration that created them (sessions came later)."""
    _store_days(church_id, days_of(computed_sessions(church_id, apps=apps)), apps)


def rebuild_sessions(church_id: int, *, apps=global_apps) -> None:
    """The sessions alone, for the migration that created them."""
    _store_sessions(church_id, computed_sessions(church_id, apps=apps), apps)


def _store_days(church_id: int, days: Mapping[datetime.date, tuple[int, int]], apps,
                counted: Counted | None = None) -> None:
    # `counted` None: a migration from before head counts, whose model has no such column.
    model = apps.get_model("attendance", "AttendanceDay")
    model.objects.filter(church_id=church_id).delete()
    extra = (lambda day: {"counted": counted.get(day, 0)}) if counted is not None else (lambda day: {})
    model.objects.bulk_create([
        model(church_id=church_id, date=day, service=service, groups=groups, **extra(day))
        for day, (service, groups) in sorted({**dict.fromkeys(counted or {}, (0, 0)), **days}.items())
    ], batch_size=1000)


def _store_sessions(church_id: int, sessions: Sessions, apps, counted: Counted | None = None) -> None:
    model = apps.get_model("attendance", "SessionCount")
    model.objects.filter(church_id=church_id).delete()
    rows = {key: {"present": n} for key, n in sessions.items()}
    for day, n in (counted or {}).items():
        rows.setdefault((day, None), {"present": 0})["counted"] = n
    model.objects.bulk_create([
        model(church_id=church_id, date=day, group_id=group_id, **fields) for (day, group_id), fields in rows.items()
    ], batch_size=1000)


def drift(church_id: int) -> int:
    """How many dates' and sessions' stored counts differ from the records (0 when exact)."""
    counted = computed_sessions(church_id)
    heads = computed_counted(church_id)
    stored_days = {
        day: (service, groups, n) for day, service, groups, n in
        AttendanceDay.objects.filter(church_id=church_id).exclude(service=0, groups=0, counted=0)
        .values_list("date", "service", "groups", "counted")
    }
    counted_days = {day: (*days_of(counted).get(day, (0, 0)), heads.get(day, 0))
                    for day in set(days_of(counted)) | set(heads)}
    stored_sessions = {
        (day, group_id): (n, c) for day, group_id, n, c in
        SessionCount.objects.filter(church_id=church_id).exclude(present=0, counted=0)
        .values_list("date", "group_id", "present", "counted")
    }
    counted_sessions = {key: (n, 0) for key, n in counted.items()}
    for day, n in heads.items():
        counted_sessions[(day, None)] = (counted.get((day, None), 0), n)
    return (sum(1 for day in set(stored_days) | set(counted_days)
                if stored_days.get(day, (0, 0, 0)) != counted_days.get(day, (0, 0, 0)))
            + sum(1 for key in set(stored_sessions) | set(counted_sessions)
                  if stored_sessions.get(key, (0, 0)) != counted_sessions.get(key, (0, 0))))


def per_day(church_id: int, start: datetime.date, end: datetime.date) -> list[tuple[datetime.date, int, int]]:
    """(date, service, groups) for the church's days from `start` to `end`, in date order; the
    service is the larger of the people named and its head count."""
    return list(
        AttendanceDay.objects.filter(church_id=church_id, date__gte=start, date__lte=end)
        .exclude(service=0, groups=0, counted=0)
        .order_by("date").values_list("date", Greatest("service", "counted"), "groups")
    )
