"""Counters that the dashboard and the lists read instead of aggregating every row of a church.

- `MemberTally`: members per (status, join month, in a current group or not). The dashboard's
  totals by status, its growth chart, "in no group" and the directory's total are sums over a
  few hundred of these rows, whatever the size of the church.
- `Group.member_count`: the size of each group (group list, roster, average group size).
- `attendance.AttendanceDay`: present per date (attendance/tallies.py).

The services keep them exact in the same transaction as every write (a rolled-back write
rolls its counts back with it). `rebuild_church` recomputes them from the source tables: the
migrations and `seed_demo` start from it, the Django admin calls it after its direct writes,
and `manage.py rebuild_tallies --check` compares the two.

Concurrency. Deltas go in as one upsert, `total = total + delta`, in key order: concurrent
writers add up instead of overwriting each other, and never deadlock on tally rows. What
decides a member's bucket (status, join month, in a current group) is read with the member's
row locked (SELECT ... FOR UPDATE) and groups are locked before members, everywhere.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth

# (status, first day of the join month, in a current group)
Bucket = tuple[str, datetime.date, bool]


def month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def bucket(status: str, joined_on: datetime.date, in_group: bool) -> Bucket:
    return (status, month_of(joined_on), bool(in_group))


def apply(church_id: int, deltas: Mapping[Bucket, int]) -> None:
    """Add `deltas` to the church's MemberTally rows, creating the rows that do not exist yet."""
    from .models import MemberTally

    rows = sorted((key, n) for key, n in deltas.items() if n)
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(MemberTally._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[object] = []
    for (status, month, in_group), n in rows:
        params += [church_id, status, ops.adapt_datefield_value(month), in_group, n]
    # INSERT ... ON CONFLICT DO UPDATE: PostgreSQL and SQLite (3.24+) both speak it.
    sql = (f"INSERT INTO {table} (church_id, status, joined_month, in_group, total) VALUES {values} "
           f"ON CONFLICT (church_id, status, joined_month, in_group) "
           f"DO UPDATE SET total = {table}.total + excluded.total")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def moved(old: Bucket, new: Bucket, n: int = 1) -> Counter[Bucket]:
    """The deltas of `n` members leaving bucket `old` for bucket `new` (nothing when equal)."""
    deltas: Counter[Bucket] = Counter()
    if old != new:
        deltas[old] -= n
        deltas[new] += n
    return deltas


def in_current_group(member_ids: Iterable[int], *, exclude_group_id: int | None = None) -> set[int]:
    """Which of these members are in at least one current (not archived) group, leaving out
    `exclude_group_id`. One query through the membership's member index."""
    from .models import Membership

    ids = list(member_ids)
    if not ids:
        return set()
    qs = Membership.objects.filter(member_id__in=ids, group__archived=False)
    if exclude_group_id is not None:
        qs = qs.exclude(group_id=exclude_group_id)
    return set(qs.order_by().values_list("member_id", flat=True).distinct())


def lock_members(church_id: int, member_ids: Iterable[int]) -> list[tuple[int, str, datetime.date]]:
    """Lock the members' rows (in id order, so two writers never wait on each other in a
    circle) and return their (id, status, joined_on)."""
    from .models import Member

    ids = sorted(set(member_ids))
    if not ids:
        return []
    return list(
        Member.objects.select_for_update().filter(church_id=church_id, pk__in=ids).order_by("id")
        .values_list("id", "status", "joined_on")
    )


def group_membership_changed(*, church_id: int, rows: list[tuple[int, str, datetime.date]], joined: bool,
                             exclude_group_id: int | None) -> None:
    """Members joined or left current groups as a whole: those for whom it decides "in a
    group" move bucket. `rows` are their (id, status, joined_on) as `lock_members` returned
    them (locked before the membership changed); `exclude_group_id` is the group that changed,
    and whether they are in another current group is what decides.

    Called after a membership is added to or removed from a current group, and when a group is
    archived or brought back (then for its whole roster).
    """
    elsewhere = in_current_group([r[0] for r in rows], exclude_group_id=exclude_group_id)
    deltas: Counter[Bucket] = Counter()
    for member_id, status, joined_on in rows:
        if member_id in elsewhere:
            continue  # in a group before and after
        # update(), not +=: Counter's + drops the negative counts that tallies need.
        deltas.update(moved(bucket(status, joined_on, not joined), bucket(status, joined_on, joined)))
    apply(church_id, deltas)


# --- reading -----------------------------------------------------------------------------

def member_buckets(church_id: int) -> list[tuple[str, datetime.date, bool, int]]:
    """The church's tally rows: (status, joined_month, in_group, total), zero rows left out."""
    from .models import MemberTally

    return list(
        MemberTally.objects.filter(church_id=church_id).exclude(total=0).order_by()
        .values_list("status", "joined_month", "in_group", "total")
    )


def member_total(church_id: int) -> int:
    """How many members the church has: a sum over its tally rows, not a COUNT(*) of members."""
    from .models import MemberTally

    return MemberTally.objects.filter(church_id=church_id).aggregate(n=Coalesce(Sum("total"), 0))["n"]


# --- rebuilding ----------------------------------------------------------------------------

def computed_buckets(church_id: int, *, apps=global_apps) -> Counter[Bucket]:
    """The tally rows as the members table says they should be: the church's members by
    (status, join month), and the same for those in a current group (a semi-join with the
    memberships of its current groups, hashed once: never a subquery per member)."""
    Member = apps.get_model("members", "Member")
    Membership = apps.get_model("members", "Membership")
    members = Member.objects.filter(church_id=church_id).order_by()
    grouped_ids = Membership.objects.filter(group__church_id=church_id, group__archived=False).values("member_id")

    def by_month(qs) -> dict[tuple[str, datetime.date], int]:
        rows = qs.annotate(month=TruncMonth("joined_on")).values("status", "month").annotate(n=Count("id"))
        return {(row["status"], _as_date(row["month"])): row["n"] for row in rows}

    everyone, grouped = by_month(members), by_month(members.filter(pk__in=grouped_ids))
    out: Counter[Bucket] = Counter()
    for (status, month), n in everyone.items():
        in_group = grouped.get((status, month), 0)
        if in_group:
            out[(status, month, True)] = in_group
        if n - in_group:
            out[(status, month, False)] = n - in_group
    return out


def _as_date(value: datetime.date | datetime.datetime) -> datetime.date:
    # TruncMonth of a DateField is a date on both backends; be tolerant of a datetime anyway.
    return value.date() if isinstance(value, datetime.datetime) else value


def rebuild_church(church_id: int) -> None:
    """Recompute the church's MemberTally rows, group sizes and attendance days from the source
    tables, in one transaction.

    On PostgreSQL the church's row is locked first (FOR UPDATE): every writer that inserts a row
    pointing at the church (a member, a tally row, an attendance day) holds a KEY SHARE lock on it,
    so the rebuild waits for those in flight and new ones wait for the rebuild; writers that only
    update existing tally rows are ordered by the row locks the rebuild's DELETE takes.
    """
    from attendance import tallies as attendance_tallies  # attendance imports members: import late

    from .models import Church

    with transaction.atomic():
        list(Church.objects.select_for_update().filter(pk=church_id).values_list("id"))
        rebuild_members(church_id)
        attendance_tallies.rebuild_church(church_id)


def rebuild_members(church_id: int, *, apps=global_apps) -> None:
    """The members' half of `rebuild_church`: MemberTally rows and group sizes (the migration
    that created them runs it for every church)."""
    Group = apps.get_model("members", "Group")
    Membership = apps.get_model("members", "Membership")
    with transaction.atomic():
        store_buckets(church_id, computed_buckets(church_id, apps=apps), apps=apps)
        size = Membership.objects.filter(group=OuterRef("pk")).order_by().values("group").annotate(n=Count("*"))
        Group.objects.filter(church_id=church_id).update(member_count=Coalesce(Subquery(size.values("n")), 0))


def store_buckets(church_id: int, buckets: Mapping[Bucket, int], *, apps=global_apps) -> None:
    """Replace the church's MemberTally rows with `buckets` (rebuild_members, and seed_demo with
    the counts of the rows it generated)."""
    MemberTally = apps.get_model("members", "MemberTally")
    MemberTally.objects.filter(church_id=church_id).delete()
    MemberTally.objects.bulk_create([
        MemberTally(church_id=church_id, status=status, joined_month=month, in_group=in_group, total=n)
        for (status, month, in_group), n in sorted(buckets.items()) if n
    ], batch_size=1000)


def drift(church_id: int) -> dict[str, int]:
    """How far the church's counters are from the source tables (all zeros when exact):
    tally buckets that differ, groups whose size differs, attendance days that differ."""
    from attendance import tallies as attendance_tallies

    from .models import Group

    stored: Counter[Bucket] = Counter()
    for status, month, in_group, n in member_buckets(church_id):
        stored[(status, month, in_group)] = n
    computed = computed_buckets(church_id)
    buckets = sum(1 for key in set(stored) | set(computed) if stored.get(key, 0) != computed.get(key, 0))
    groups = (
        Group.objects.filter(church_id=church_id).annotate(actual=Count("memberships"))
        .exclude(member_count=F("actual")).count()
    )
    return {"member_buckets": buckets, "group_sizes": groups, "attendance_days": attendance_tallies.drift(church_id)}
