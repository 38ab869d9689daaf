"""Dashboard reads: the church's headline figures and chart series, and the rendered fragment.

Both are cache-aside reads (`keys.STATS` for the figures, `keys.DASHBOARD` for the HTML);
member, group and attendance services invalidate both on every write, so the 5-minute TTL
only bounds how old the "as of" clock may look, never how stale a figure is after a write.

A miss's figures may come from the streaming replica (replica.reads, "dashboard"), never older
than the miss. Cold cost is four small queries whatever the size of the church: the church's member tallies
(counts by status, join month and "in a group", members/tallies.py), new members in 30 days
(an index range), its current groups with their sizes, and its attendance days for 12 weeks
(attendance/tallies.py). None of them reads every member, membership or attendance record.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, Greatest
from django.template.loader import render_to_string
from django.utils import timezone

from attendance import tallies as attendance_tallies
from cachemon import cache_aside, keys
from members import tallies as member_tallies
from members.models import Church, Group, Member
from members.timezones import church_today
from replica import reads

from . import charts

# "Active" people: those who come (regular attenders) or belong (members).
ACTIVE_STATUSES = (Member.Status.REGULAR, Member.Status.MEMBER)
NEW_MEMBER_DAYS = 30  # joined at most 30 days ago counts as new (31 days ago does not)
ATTENDANCE_DAYS = 28  # "the last 4 weeks": today and the 27 days before it
GROWTH_MONTHS = 12
ATTENDANCE_WEEKS = 12
# Donut order and colours: the same hues as the status badges.
STATUS_COLOURS = {
    Member.Status.MEMBER: 1,
    Member.Status.REGULAR: 2,
    Member.Status.VISITOR: 3,
    Member.Status.INACTIVE: 4,
}


def dashboard_summary(*, church: Church) -> dict[str, Any]:
    """The church's headline figures and chart series as a plain (picklable) dict, cached.

    Keys: `members_total`, `members_active`, `members_new_30d`, `groups_total`, `visitors`,
    `avg_group_size`, `members_no_group`, `attendance_4w`, `status_counts`, `growth`
    (12 month rows), `attendance_weeks` (12 week rows), `today`, `computed_at`.
    """
    return cache_aside.cached(
        keys.STATS, church_id=church.id, parts=("summary",),
        # A miss may be computed on the replica: only once it has replayed every write the
        # primary had committed, so what is cached under this generation is not older than it.
        fetch=lambda: reads.lag_tolerant("dashboard", lambda: _compute_summary(church)), ttl=keys.TTL_SHORT,
    )


def dashboard_fragment(*, church: Church) -> str:
    """The rendered dashboard content (figures and charts, nothing per-user), cached.

    Rendering the fragment costs more CPU than two cache round trips, so a warm dashboard
    request fetches this one string and only wraps it in the page chrome.
    """
    return cache_aside.cached(
        keys.DASHBOARD, church_id=church.id, parts=("html",),
        fetch=lambda: _render_fragment(church), ttl=keys.TTL_SHORT,
    )


def _render_fragment(church: Church) -> str:
    summary = dashboard_summary(church=church)
    growth, weeks = summary["growth"], summary["attendance_weeks"]
    # The current week is still running: averages and the peak use the 11 full weeks.
    full_weeks = [row["total"] for row in weeks[:-1]]
    peak = max(weeks[:-1], key=lambda row: row["total"])
    ctx = {
        "s": summary,
        "active_share": _percent(summary["members_active"], summary["members_total"]),
        "weekly_attendance_avg": round(summary["attendance_4w"] / 4),
        "growth_svg": charts.line_chart(
            labels=[row["label"] for row in growth],
            values=[row["total"] for row in growth],
            bars=[row["joined"] for row in growth],
            details=[row["detail"] for row in growth],
            name="Total people", bars_name="Joined that month",
            title="Membership over the last 12 months",
            summary=(
                f"Membership over the last 12 months: {growth[-1]['total']:,} people now, "
                f"{_change(growth[-1]['total'] - growth[0]['total'])} since the end of {growth[0]['month']:%B %Y}; "
                f"{sum(row['joined'] for row in growth):,} joined in these 12 months."
            ),
            empty_message="No people yet: add members and their growth shows here.",
        ),
        "attendance_svg": charts.bar_chart(
            labels=[row["label"] for row in weeks],
            stacks=[("Services", [row["service"] for row in weeks]), ("Groups", [row["groups"] for row in weeks])],
            details=[row["detail"] for row in weeks],
            title="Weekly attendance over the last 12 weeks", partial_last=True,
            summary=(
                f"Weekly attendance over the last 12 weeks: {round(sum(full_weeks) / len(full_weeks)):,} a week "
                f"on average over the 11 full weeks, highest {peak['total']:,} in the week of {peak['label']}; "
                f"{weeks[-1]['total']:,} so far this week."
            ),
            empty_message="No attendance recorded in the last 12 weeks.",
        ),
        "status_svg": charts.donut_chart(
            slices=[(row["label"], row["count"], row["colour"]) for row in summary["status_counts"]],
            title="People by status",
            total_label="people",
            empty_message="No people yet.",
        ),
    }
    return render_to_string("analytics/_dashboard.html", ctx)


def _change(delta: int) -> str:
    return f"up {delta:,}" if delta > 0 else f"down {-delta:,}" if delta < 0 else "unchanged"


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _month_start(day: datetime.date, months_back: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months_back
    return datetime.date(index // 12, index % 12 + 1, 1)


def _compute_summary(church: Church) -> dict[str, Any]:
    today = church_today(church)
    new_since = today - datetime.timedelta(days=NEW_MEMBER_DAYS)
    attendance_since = today - datetime.timedelta(days=ATTENDANCE_DAYS - 1)
    growth_start = _month_start(today, GROWTH_MONTHS - 1)
    week_start = today - datetime.timedelta(days=today.weekday())  # Monday of this week
    weeks_start = week_start - datetime.timedelta(weeks=ATTENDANCE_WEEKS - 1)

    # Sums over the church's MemberTally rows (a few hundred, whatever its size), kept exact by
    # every member, group and membership write: members.tallies.
    figures = {"total": 0, "active": 0, "before_growth": 0, "in_groups": 0,
               **{f"status_{s}": 0 for s in Member.Status.values}}
    joins: dict[datetime.date, int] = {}
    for status, month, in_group, n in member_tallies.member_buckets(church.id):
        figures["total"] += n
        figures[f"status_{status}"] += n
        figures["active"] += n if status in ACTIVE_STATUSES else 0
        figures["in_groups"] += n if in_group and status != Member.Status.INACTIVE else 0
        if month < growth_start:
            figures["before_growth"] += n
        elif month <= today:
            joins[month] = joins.get(month, 0) + n
    # By the day, not the month: a range on member_church_joined_id_idx (index-only, ~2 ms at 100k).
    new_30d = Member.objects.for_church(church).filter(joined_on__gte=new_since, joined_on__lte=today).count()

    groups = Group.objects.for_church(church).filter(archived=False).order_by().aggregate(
        total=Count("id"), membership_rows=Coalesce(Sum("member_count"), 0),
    )
    per_day = attendance_tallies.per_day(church.id, weeks_start, today)

    growth = _growth_rows(growth_start, today, figures["before_growth"], joins)
    weeks, attendance_4w = _week_rows(weeks_start, attendance_since, per_day)

    status_counts = [
        {"status": status.value, "label": status.label, "count": figures[f"status_{status}"], "colour": colour}
        for status, colour in STATUS_COLOURS.items()
    ]
    groups_total = groups["total"]
    return {
        "members_total": figures["total"],
        "members_active": figures["active"],
        "members_new_30d": new_30d,
        "groups_total": groups_total,
        "visitors": figures[f"status_{Member.Status.VISITOR}"],
        "avg_group_size": round(groups["membership_rows"] / groups_total, 1) if groups_total else 0,
        "members_no_group": figures["total"] - figures[f"status_{Member.Status.INACTIVE}"] - figures["in_groups"],
        "attendance_4w": attendance_4w,
        "status_counts": status_counts,
        "growth": growth,
        "attendance_weeks": weeks,
        "today": today,
        "new_since": new_since,
        "attendance_since": attendance_since,
        "computed_at": timezone.now(),
    }


def _growth_rows(start: datetime.date, today: datetime.date, before: int,
                 joins: dict[datetime.date, int]) -> list[dict[str, Any]]:
    rows = []
    total = before
    for i in range(GROWTH_MONTHS):
        month = _month_start(start, -i)
        joined = joins.get(month, 0)
        total += joined
        label = month.strftime("%b")
        if i == 0 or month.month == 1:
            label += month.strftime(" \u2019%y")
        rows.append({
            "month": month, "label": label, "total": total, "joined": joined,
            "detail": f"{month.strftime('%B %Y')}: {total:,} people at month end, {joined:,} joined"
            if month.month != today.month or month.year != today.year
            else f"{month.strftime('%B %Y')} so far: {total:,} people, {joined:,} joined",
        })
    return rows


def _week_rows(start: datetime.date, attendance_since: datetime.date,
               per_day: list[tuple[datetime.date, int, int]]) -> tuple[list[dict[str, Any]], int]:
    rows = []
    for i in range(ATTENDANCE_WEEKS):
        monday = start + datetime.timedelta(weeks=i)
        rows.append({"week": monday, "label": f"{monday.day} {monday.strftime('%b')}", "service": 0, "groups": 0})
    last_4w = 0
    for day, service, groups in per_day:
        row = rows[(day - start).days // 7]
        row["service"] += service
        row["groups"] += groups
        if day >= attendance_since:
            last_4w += service + groups
    rows[-1]["label"] = "This week"
    for row in rows:
        total = row["service"] + row["groups"]
        row["total"] = total
        when = f"Week of {row['week'].day} {row['week'].strftime('%B %Y')}"
        if row is rows[-1]:
            when = f"This week so far (from Monday {row['week'].day} {row['week'].strftime('%B')})"
        row["detail"] = (f"{when}: {total:,} present "
                         f"({row['service']:,} at services, {row['groups']:,} at groups)")
    return rows, last_4w


# --- the platform admin's statistics (/admin/stats/) ---------------------------------------
STATS_PER_PAGE = 50


def platform_statistics(*, page: int) -> dict[str, Any]:
    """Figures of every church, for platform admins: a page of churches (by name) with their
    members (total, active, visitors), current groups, active staff accounts and attendance of
    the last 4 weeks, and the platform's totals. Read from the counters (no scan of members or
    attendance records), on the streaming replica when it has caught up (replica.reads).

    Keys: `churches` (rows), `page`, `num_pages`, `totals`.
    """
    return reads.lag_tolerant("admin_stats", lambda: _platform_statistics(page))


def _platform_statistics(page: int) -> dict[str, Any]:
    from attendance.models import AttendanceDay
    from members.models import MemberTally, User

    churches_total = Church.objects.count()
    num_pages = max(1, -(-churches_total // STATS_PER_PAGE))
    page = min(max(1, page), num_pages)
    start = (page - 1) * STATS_PER_PAGE
    churches = list(Church.objects.order_by("name", "id").values("id", "name", "slug")[start:start + STATS_PER_PAGE])
    ids = [c["id"] for c in churches]
    since = timezone.localdate() - datetime.timedelta(days=ATTENDANCE_DAYS - 1)

    by_status: dict[int, dict[str, int]] = {}
    for row in (MemberTally.objects.filter(church_id__in=ids).order_by().values("church_id", "status")
                .annotate(n=Sum("total"))):
        by_status.setdefault(row["church_id"], {})[row["status"]] = row["n"]
    groups = dict(Group.objects.filter(church_id__in=ids, archived=False).order_by().values("church_id")
                  .annotate(n=Count("id")).values_list("church_id", "n"))
    staff = dict(User.objects.filter(church_id__in=ids, is_active=True).order_by().values("church_id")
                 .annotate(n=Count("id")).values_list("church_id", "n"))
    attendance = dict(AttendanceDay.objects.filter(church_id__in=ids, date__gte=since).order_by().values("church_id")
                      .annotate(n=Sum(Greatest("service", "counted") + F("groups"))).values_list("church_id", "n"))

    rows = []
    for church in churches:
        statuses = by_status.get(church["id"], {})
        rows.append({
            **church,
            "members": sum(statuses.values()),
            "active": sum(statuses.get(s, 0) for s in ACTIVE_STATUSES),
            "visitors": statuses.get(Member.Status.VISITOR, 0),
            "groups": groups.get(church["id"], 0),
            "staff": staff.get(church["id"], 0),
            "attendance_4w": attendance.get(church["id"], 0),
        })
    totals = {
        "churches": churches_total,
        "members": MemberTally.objects.aggregate(n=Coalesce(Sum("total"), 0))["n"],
        "groups": Group.objects.filter(archived=False).count(),
        "staff": User.objects.filter(church__isnull=False, is_active=True).count(),
    }
    return {"churches": rows, "page": page, "num_pages": num_pages, "totals": totals}
