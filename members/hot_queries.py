"""The hot queries: the reads that staff pages run all day, named once for the tooling and tests.

Each entry builds the same SQL as the selector that serves the page (members/selectors.py,
analytics/selectors.py, attendance/selectors.py), from the selectors' own building blocks where
they are public (the search's first page and count, the row field lists, the dashboard's
constants), so a plan shown by `manage.py explain_hot_queries`, checked by
tests/indices/test_query_plans.py and timed by scripts/bench_queries.py is the plan of the page.
They read through the database, never the cache (cache-aside would hide the query on a warm
page; a cold page still runs it).

`intended` names the index each query should use on PostgreSQL: the index that the
`*_add_critical_indices` migrations (or the model's constraints) created for it.
"""

from __future__ import annotations

import datetime
import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from analytics.selectors import ACTIVE_STATUSES, GROWTH_MONTHS, NEW_MEMBER_DAYS, _month_start
from attendance import tallies as attendance_tallies
from attendance.models import Attendance
from attendance.selectors import SESSIONS_PER_PAGE, attendance_session_rows

from . import tallies
from .models import Church, Group, Member, Membership
from .timezones import church_today
from .selectors import (
    MAX_PAGE_JUMP,
    MEMBER_ROW_FIELDS,
    MEMBER_SORTS,
    ROSTER_ROW_FIELDS,
    MemberCursor,
    MemberFilter,
    member_filter_total,
    member_list_qs,
    member_offset_rows,
    member_search_first_page,
    member_search_total,
    member_seek,
)

PER_PAGE = 50
DEEP_PAGE = 1000

# Index names: the critical ones from members/migrations/0002_add_critical_indices.py, and
# those that exist for constraints or were added with the attendance pages.
MEMBER_NAME_INDEX = "member_church_name_idx"
MEMBER_JOINED_INDEX = "member_church_joined_id_idx"
MEMBER_STATUS_INDEX = "member_church_status_name_idx"
MEMBERSHIP_GROUP_INDEX = "membership_unique_member_per_group"
GROUP_NAME_INDEX = "group_unique_name_per_church"
# The counters' own unique indices (members/tallies.py, attendance/tallies.py), led by the church.
MEMBER_TALLY_INDEX = "membertally_unique_bucket"
ATTENDANCE_DAY_INDEX = "attendanceday_unique_date"
SESSION_COUNT_INDEX = "sessioncount_church_date_group"
CRITICAL_INDEXES = (MEMBER_NAME_INDEX, MEMBER_JOINED_INDEX, MEMBER_STATUS_INDEX)
# PostgreSQL only (GIN, pg_trgm + btree_gin, members/migrations/0004_search_trigram_by_church.py):
# (church_id, UPPER(first_name || ' ' || last_name || ' ' || email) gin_trgm_ops), what the search compares.
MEMBER_SEARCH_INDEX = "member_church_search_trgm"
# (church_id, phone gin_trgm_ops): phone-like searches (members/migrations/0005_phone_search_trigram_by_church.py).
MEMBER_PHONE_INDEX = "member_church_phone_trgm"
TRIGRAM_INDEXES = (MEMBER_SEARCH_INDEX, MEMBER_PHONE_INDEX)


@dataclass(frozen=True)
class HotContext:
    """What the hot queries are run for: one church and realistic arguments inside it."""

    church: Church
    group: Group | None
    search: str
    phone_search: str  # digits from the middle of a member's phone, typed as staff type them
    deep_page: int
    today: datetime.date
    date_from: datetime.date  # attendance range: the dashboard's 12 weeks
    # The (last_name, first_name, id) of the last row before the deep page: where its Next link
    # seeks from (the keyset page is the deep page, read without OFFSET). None: a one-page church.
    keyset_after: tuple[str, str, int] | None = None
    # The same in `?sort=-joined` order: (joined_on, id).
    joined_keyset_after: tuple[datetime.date, int] | None = None

    @property
    def jump_page(self) -> int:
        """The deepest page a typed `?page=N` reads by OFFSET (the app caps jumps at MAX_PAGE_JUMP)."""
        return min(self.deep_page, MAX_PAGE_JUMP)

    @classmethod
    def for_church(cls, church: Church, *, search: str | None = None, deep_page: int = DEEP_PAGE) -> HotContext:
        """The church's largest current group, a search for a surname that occurs in it, and
        the deep page (page `deep_page`, or the last page when the church is smaller)."""
        group = (
            Group.objects.for_church(church).filter(archived=False)
            .annotate(size=Count("memberships")).order_by("-size", "id").first()
        )
        if search is None:
            # A real surname from the church (staff search for people they know), cut to 5 letters
            # as someone typing would; deterministic for a given data set.
            last = Member.objects.for_church(church).order_by("id").values_list("last_name", flat=True).first()
            search = re.sub(r"[^a-z]", "", (last or "smith").lower())[:5] or "smith"
        # Five digits from the middle of a real number ("+15552220101" -> "555 22"): what staff
        # type from a caller ID or a note, with the space they would leave in.
        phone = Member.objects.for_church(church).exclude(phone="").order_by("id").values_list("phone", flat=True).first()
        digits = re.sub(r"\D", "", phone or "")[-10:-3] or "55512"
        phone_search = f"{digits[:3]} {digits[3:5]}".strip()
        total = Member.objects.for_church(church).count()
        pages = max(1, -(-total // PER_PAGE))
        deep = min(deep_page, pages)
        keyset_after = (
            Member.objects.for_church(church).order_by(*DIRECTORY_ORDER)
            .values_list(*DIRECTORY_ORDER)[(deep - 1) * PER_PAGE - 1]
            if deep > 1 else None
        )
        joined_keyset_after = (
            Member.objects.for_church(church).order_by(*MEMBER_SORTS["-joined"])
            .values_list("joined_on", "id")[(deep - 1) * PER_PAGE - 1]
            if deep > 1 else None
        )
        today = church_today(church)
        monday = today - datetime.timedelta(days=today.weekday())
        return cls(
            church=church, group=group, search=search, phone_search=phone_search, deep_page=deep, today=today,
            date_from=monday - datetime.timedelta(weeks=11), keyset_after=keyset_after,
            joined_keyset_after=joined_keyset_after,
        )


@dataclass(frozen=True)
class HotQuery:
    name: str
    title: str
    page: str  # the page (and selector) that runs it
    run: Callable[[HotContext], Any]
    intended: tuple[str, ...]  # the index(es) it should use on PostgreSQL (any of them)
    # Tables that must never be read with a sequential scan by this query.
    no_seq_scan: tuple[str, ...] = ("members_member",)
    needs_group: bool = False
    # The point of the query is to read rows in the intended index's order (ORDER BY ... LIMIT):
    # a Sort node in its plan means the index does not serve the ORDER BY.
    index_order: bool = False
    needs_keyset: bool = False
    notes: str = ""
    # How the page computed the same figure before the counters of members/tallies.py existed
    # (an aggregate over the source rows): what scripts/bench_queries.py times "before", when the
    # counter tables are migrated away with the indices. None: the same query before and after.
    before: Callable[[HotContext], Any] | None = None

    def runner(self, *, before: bool = False) -> Callable[[HotContext], Any]:
        """The query as the page runs it now, or (`before`) as it did before the counters."""
        return self.before if before and self.before is not None else self.run


def _members(ctx: HotContext):
    return Member.objects.for_church(ctx.church)


DIRECTORY_ORDER = ("last_name", "first_name", "id")


def directory_page(ctx: HotContext, page: int) -> list[dict]:
    """Page `page` as member_list_page reads a typed `?page=N` (and page 1 when not cached): PER_PAGE
    + 1 rows (the extra one tells whether a next page exists), ids by OFFSET, then those rows."""
    return member_offset_rows(church=ctx.church, q="", offset=(page - 1) * PER_PAGE)


def directory_page_keyset(ctx: HotContext) -> list[dict]:
    """The page a Next link opens: member_list_page's own seek (a row-value comparison from the
    cursor's row), so the audit shows the SQL of the page and not a copy of it."""
    assert ctx.keyset_after is not None
    last_name, first_name, member_id = ctx.keyset_after
    cursor = MemberCursor(values=(last_name, first_name, member_id), number=ctx.deep_page)
    return list(member_seek(_members(ctx), cursor, forward=True).values(*MEMBER_ROW_FIELDS)[:PER_PAGE + 1])


def directory_count(ctx: HotContext) -> int:
    """The directory's total, as the cached first page reads it: a sum over the church's tallies."""
    return tallies.member_total(ctx.church.id)


def directory_count_rows(ctx: HotContext) -> int:
    return _members(ctx).count()


def search_page(ctx: HotContext) -> tuple[list[dict], int, bool]:
    """The searched first page as member_list_page reads it: its rows and bounded total together."""
    return member_search_first_page(church=ctx.church, q=ctx.search)


def search_phone(ctx: HotContext) -> tuple[list[dict], int, bool]:
    """A phone-like search's first page (its digits against the stored E.164 numbers)."""
    return member_search_first_page(church=ctx.church, q=ctx.phone_search)


def search_count(ctx: HotContext) -> tuple[int, bool]:
    """The bounded count that Next and numbered search pages show (the first page has its own)."""
    return member_search_total(church=ctx.church, q=ctx.search)


# --- The member list's filters and sorts (issue 11): each as member_list_page reads it. ------

def _filtered_first_page(ctx: HotContext, flt: MemberFilter) -> list[dict]:
    """A filter's first page as member_list_page reads it when not cached: PER_PAGE + 1 rows
    in the filter's order."""
    return member_offset_rows(church=ctx.church, q="", offset=0, flt=flt)


def _group_filter(ctx: HotContext) -> MemberFilter:
    return MemberFilter(group_id=ctx.group.pk, group_name=ctx.group.name)


def filter_status_page(ctx: HotContext) -> list[dict]:
    """`?status=visitor`: one status in name order."""
    return _filtered_first_page(ctx, MemberFilter(status=Member.Status.VISITOR))


def filter_active_page(ctx: HotContext) -> list[dict]:
    """`?status=active`: regular attenders and members (most of a church) in name order."""
    return _filtered_first_page(ctx, MemberFilter(status="active"))


def filter_status_total(ctx: HotContext) -> int:
    """A status filter's total, as its cached first page reads it: a sum over the tallies."""
    return member_filter_total(church=ctx.church, flt=MemberFilter(status=Member.Status.VISITOR))


def filter_status_total_rows(ctx: HotContext) -> int:
    return _members(ctx).filter(status=Member.Status.VISITOR).count()


def filter_group_page(ctx: HotContext) -> list[dict]:
    """`?group=<id>`: the group's people in name order."""
    return _filtered_first_page(ctx, _group_filter(ctx))


def filter_group_total(ctx: HotContext) -> int:
    """`?group=<id>`'s total: the group's memberships counted (index-only)."""
    return member_filter_total(church=ctx.church, flt=_group_filter(ctx))


def filter_no_group_page(ctx: HotContext) -> list[dict]:
    """`?group=none&status=current` (the dashboard's "Not in a group"): people in no current group."""
    return _filtered_first_page(ctx, MemberFilter(no_group=True, status="current"))


def sort_joined_page(ctx: HotContext) -> list[dict]:
    """`?sort=-joined`: the newest members first."""
    return _filtered_first_page(ctx, MemberFilter(sort="-joined"))


def sort_joined_keyset(ctx: HotContext) -> list[dict]:
    """The Next page of `?sort=-joined` at depth: a seek from the cursor's (joined_on, id)."""
    assert ctx.joined_keyset_after is not None
    cursor = MemberCursor(values=ctx.joined_keyset_after, number=ctx.deep_page, sort="-joined")
    return list(member_seek(member_list_qs(church=ctx.church, flt=MemberFilter(sort="-joined")), cursor,
                            forward=True).values(*MEMBER_ROW_FIELDS)[:PER_PAGE + 1])


def filter_new_30d_page(ctx: HotContext) -> list[dict]:
    """`?new=30&sort=-joined` (the dashboard's "New in the last 30 days")."""
    return _filtered_first_page(ctx, MemberFilter(new_days=NEW_MEMBER_DAYS, today=ctx.today, sort="-joined"))


def search_active_page(ctx: HotContext) -> tuple[list[dict], int, bool]:
    """`?q=<name>&status=active`: a search inside a filter, rows and bounded total in one statement."""
    return member_search_first_page(church=ctx.church, q=ctx.search, flt=MemberFilter(status="active"))


def group_roster(ctx: HotContext) -> list[dict]:
    qs = Membership.objects.filter(group=ctx.group).order_by("role", "member__last_name", "member__first_name",
                                                            "member_id")
    return list(qs.values(*ROSTER_ROW_FIELDS)[:PER_PAGE])


def dashboard_member_figures(ctx: HotContext) -> list[tuple]:
    """The dashboard's one read for its member figures (analytics.selectors._compute_summary):
    the church's tally rows, from which it sums the totals by status, the active, the joins per
    month of the growth chart and the people in no current group."""
    return tallies.member_buckets(ctx.church.id)


def dashboard_member_figures_rows(ctx: HotContext) -> tuple:
    """The same figures from the member rows: the three aggregates the dashboard ran before the
    tallies (by status / active / before the growth window, joins per month, people in groups)."""
    growth_start = _month_start(ctx.today, GROWTH_MONTHS - 1)
    counts = _members(ctx).order_by().aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
        before_growth=Count("id", filter=Q(joined_on__lt=growth_start)),
        **{f"status_{s}": Count("id", filter=Q(status=s)) for s in Member.Status.values},
    )
    per_month = dict(
        _members(ctx).filter(joined_on__gte=growth_start, joined_on__lte=ctx.today).order_by()
        .annotate(month=TruncMonth("joined_on")).values("month").annotate(n=Count("id")).values_list("month", "n")
    )
    in_groups = Group.objects.for_church(ctx.church).filter(archived=False).order_by().aggregate(
        people=Count("memberships__member", distinct=True,
                     filter=~Q(memberships__member__status=Member.Status.INACTIVE)),
    )
    return counts, per_month, in_groups


def new_members_30d(ctx: HotContext) -> int:
    since = ctx.today - datetime.timedelta(days=NEW_MEMBER_DAYS)
    return _members(ctx).filter(joined_on__gte=since, joined_on__lte=ctx.today).count()


def current_groups(ctx: HotContext) -> dict:
    """The dashboard's groups figures: how many current groups and their people (sizes summed)."""
    return Group.objects.for_church(ctx.church).filter(archived=False).order_by().aggregate(
        total=Count("id"), membership_rows=Sum("member_count"),
    )


def current_groups_rows(ctx: HotContext) -> dict:
    return Group.objects.for_church(ctx.church).filter(archived=False).order_by().aggregate(
        total=Count("id", distinct=True), membership_rows=Count("memberships"),
    )


def attendance_by_date(ctx: HotContext) -> list[tuple]:
    """The dashboard's attendance for 12 weeks: the church's AttendanceDay rows (attendance/tallies.py)."""
    return attendance_tallies.per_day(ctx.church.id, ctx.date_from, ctx.today)


def attendance_by_date_rows(ctx: HotContext) -> list[tuple]:
    return list(
        Attendance.objects.for_church(ctx.church).filter(date__gte=ctx.date_from, date__lte=ctx.today).order_by()
        .values("date")
        .annotate(service=Count("id", filter=Q(group__isnull=True)), groups=Count("id", filter=Q(group__isnull=False)))
        .values_list("date", "service", "groups")
    )


def attendance_sessions(ctx: HotContext) -> list[dict]:
    """The first page of /attendance/ as attendance_sessions reads it (one row more than a page)."""
    return list(attendance_session_rows(church=ctx.church)[:SESSIONS_PER_PAGE + 1])


def attendance_sessions_rows(ctx: HotContext) -> list[dict]:
    """The same page counted from the attendance records, as before the session counters."""
    return list(
        Attendance.objects.for_church(ctx.church).values("date", "group_id").annotate(headcount=Count("*"))
        .order_by("-date", "-group_id")[:26]
    )


HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery("directory_page_1", "Member directory, first page", "/members/ (member_list_page)",
             lambda ctx: directory_page(ctx, 1), (MEMBER_NAME_INDEX,), index_order=True,
             notes="ORDER BY last_name, first_name, id LIMIT 50: read in index order, stops after 50 rows"),
    HotQuery("directory_page_deep", "Member directory, deepest typed page (OFFSET)", "/members/?page=N",
             lambda ctx: directory_page(ctx, ctx.jump_page), (MEMBER_NAME_INDEX,), index_order=True,
             notes="ids by OFFSET (N-1)*50 from an index-only walk of the name index, then the 51 rows "
                   "by primary key (a deferred join); typed jumps stop at page MAX_PAGE_JUMP"),
    HotQuery("directory_page_keyset", "Member directory, Next page (keyset)", "/members/?after=<cursor>",
             directory_page_keyset, (MEMBER_NAME_INDEX,), index_order=True, needs_keyset=True,
             notes="(last_name, first_name, id) > cursor: the index is entered at the cursor's row and "
                   "read for 51 rows, whatever the depth"),
    HotQuery("directory_count", "Member directory, total", "/members/ (cached first page)",
             directory_count, (MEMBER_TALLY_INDEX,), before=directory_count_rows,
             no_seq_scan=("members_member", "members_membertally"),
             notes="a sum over the church's tally rows (a few hundred); before: COUNT(*) of its members"),
    HotQuery("search_page", "Member search, first page", "/members/?q=",
             search_page, (MEMBER_SEARCH_INDEX,),
             notes="one statement for rows and total: up to 1,001 matches from member_church_search_trgm "
                   "(the church and every word inside the index scan), COUNT(*) OVER () and a sort of just "
                   "those; past 1,000 matches a second query reads the page off member_church_name_idx"),
    HotQuery("search_count", "Member search, total", "/members/?q= (pagination)",
             search_count, (MEMBER_SEARCH_INDEX,),
             notes="COUNT(*) of at most 1,001 matches, from member_church_search_trgm inside the church; "
                   "SQLite: the church's members are tested until 1,001 match"),
    HotQuery("search_phone", "Member search by phone digits, first page", "/members/?q=555 12",
             search_phone, (MEMBER_PHONE_INDEX,),
             notes="phone LIKE '%<digits>%' from member_church_phone_trgm inside the church; rows and the "
                   "bounded total in one statement, as for a name"),
    HotQuery("filter_status_page", "Member list, one status, first page", "/members/?status=visitor",
             filter_status_page, (MEMBER_STATUS_INDEX,), index_order=True,
             notes="(church, status, last_name, first_name, id): read in index order from the status, 51 rows"),
    HotQuery("filter_active_page", "Member list, active (two statuses), first page", "/members/?status=active",
             filter_active_page, (MEMBER_NAME_INDEX, MEMBER_STATUS_INDEX), index_order=True,
             notes="most of a church is active: the name index walked, the status tested, until 51 rows"),
    HotQuery("filter_status_total", "Member list, one status, total", "/members/?status=visitor (cached first page)",
             filter_status_total, (MEMBER_TALLY_INDEX,), no_seq_scan=("members_member", "members_membertally"),
             before=filter_status_total_rows,
             notes="a sum over the church's tally rows; before: COUNT(*) of the church's members of that status"),
    HotQuery("filter_group_page", "Member list, one group, first page", "/members/?group=<id>",
             filter_group_page, (MEMBERSHIP_GROUP_INDEX,), needs_group=True,
             no_seq_scan=("members_member", "members_membership"),
             notes="the group's memberships (its size at most), their members by primary key, sorted"),
    HotQuery("filter_group_total", "Member list, one group, total", "/members/?group=<id> (cached first page)",
             filter_group_total, (MEMBERSHIP_GROUP_INDEX,), needs_group=True,
             no_seq_scan=("members_member", "members_membership"),
             notes="the group's memberships counted"),
    HotQuery("filter_no_group_page", "Member list, in no current group, first page",
             "/members/?group=none&status=current", filter_no_group_page, (MEMBER_NAME_INDEX, MEMBER_STATUS_INDEX),
             index_order=True, no_seq_scan=("members_member", "members_membership"),
             notes="the name index walked, each person's current memberships looked up by member (anti-join)"),
    HotQuery("sort_joined_page", "Member list, newest first, first page", "/members/?sort=-joined",
             sort_joined_page, (MEMBER_JOINED_INDEX,), index_order=True,
             notes="(church, joined_on, id) read backwards: 51 rows"),
    HotQuery("sort_joined_keyset", "Member list, newest first, Next page (keyset)", "/members/?sort=-joined&after=",
             sort_joined_keyset, (MEMBER_JOINED_INDEX,), index_order=True, needs_keyset=True,
             notes="(joined_on, id) < cursor: entered at the cursor, whatever the depth"),
    HotQuery("filter_new_30d_page", "Member list, new in 30 days, first page", "/members/?new=30&sort=-joined",
             filter_new_30d_page, (MEMBER_JOINED_INDEX,), index_order=True,
             notes="a range of (church, joined_on, id), read backwards"),
    HotQuery("search_active_page", "Member search inside a status filter, first page", "/members/?q=&status=active",
             search_active_page, (MEMBER_SEARCH_INDEX,),
             notes="the search's trigram matches (at most 1,001) with the status tested, counted and sorted"),
    HotQuery("group_roster", "Group roster, leaders first, by name", "/groups/<id>/ (group_with_roster_page)",
             group_roster, (MEMBERSHIP_GROUP_INDEX,),
             no_seq_scan=("members_member", "members_membership"), needs_group=True,
             notes="memberships of one group, then their members by primary key"),
    HotQuery("dashboard_member_figures", "Dashboard: members by status, joins per month, in no group",
             "/dashboard/", dashboard_member_figures, (MEMBER_TALLY_INDEX,), before=dashboard_member_figures_rows,
             no_seq_scan=("members_member", "members_membertally"),
             notes="the church's MemberTally rows (status x join month x in a group); before: three aggregates "
                   "over its members and memberships"),
    HotQuery("new_members_30d", "New members, last 30 days", "/dashboard/ (members_new_30d)",
             new_members_30d, (MEMBER_JOINED_INDEX,),
             notes="by the day, not the month: a range on (church, joined_on), index-only"),
    HotQuery("current_groups", "Current groups and their sizes", "/dashboard/ (groups, average size)",
             current_groups, (GROUP_NAME_INDEX,), before=current_groups_rows,
             no_seq_scan=("members_member", "members_membership", "members_group"),
             notes="the church's groups with their kept sizes; before: a join over their memberships"),
    HotQuery("attendance_by_date", "Attendance by church and date range (12 weeks)", "/dashboard/ (attendance chart)",
             attendance_by_date, (ATTENDANCE_DAY_INDEX,), before=attendance_by_date_rows,
             no_seq_scan=("members_member", "attendance_attendance", "attendance_attendanceday"),
             notes="at most 84 AttendanceDay rows; before: every attendance record of the 12 weeks"),
    HotQuery("attendance_sessions", "Recent sessions with headcounts", "/attendance/ (attendance_sessions)",
             attendance_sessions, (SESSION_COUNT_INDEX,), before=attendance_sessions_rows,
             no_seq_scan=("members_member", "attendance_attendance", "attendance_sessioncount"),
             notes="26 SessionCount rows, backwards along (church, date, group); before: the records of "
                   "those sessions counted (a Sunday service of 40,000 alone)"),
)

HOT_QUERY_NAMES = tuple(q.name for q in HOT_QUERIES)


def hot_query(name: str) -> HotQuery:
    for query in HOT_QUERIES:
        if query.name == name:
            return query
    raise KeyError(name)


# --- capture, explain and time ------------------------------------------------------------

def capture_sql(query: HotQuery, ctx: HotContext, *, before: bool = False) -> list[tuple[str, tuple]]:
    """Run the query once and return the SQL statement(s) it sent, with their parameters."""
    statements: list[tuple[str, tuple]] = []
    run = query.runner(before=before)

    def wrapper(execute, sql, params, many, context):
        statements.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        run(ctx)
    return statements


@dataclass
class Plan:
    """One statement's plan: the text, the indexes it reads, and the sequential scans."""

    sql: str
    text: str
    indexes: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)
    node_types: list[str] = field(default_factory=list)  # PostgreSQL plan nodes, e.g. "Sort"
    db_ms: float | None = None  # PostgreSQL EXPLAIN ANALYZE execution time


def explain(sql: str, params: tuple, *, analyze: bool = False) -> Plan:
    """The plan of one statement, on PostgreSQL (JSON for the facts, text for people) or SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            options = "ANALYZE, BUFFERS, " if analyze else ""
            cursor.execute(f"EXPLAIN ({options}FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]
            doc = raw if isinstance(raw, list) else json.loads(raw)
            cursor.execute(f"EXPLAIN ({options}FORMAT TEXT) {sql}", params)
            text = "\n".join(row[0] for row in cursor.fetchall())
            plan = Plan(sql=sql, text=text, db_ms=doc[0].get("Execution Time"))
            _walk_pg(doc[0]["Plan"], plan)
            return plan
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        rows = cursor.fetchall()
        plan = Plan(sql=sql, text="\n".join(str(row[-1]) for row in rows))
        for row in rows:
            detail = str(row[-1])
            match = re.search(r"USING (?:COVERING )?INDEX (\S+)", detail)
            if match:
                plan.indexes.append(match.group(1))
            scan = re.match(r"SCAN (\S+)(?!.*USING)", detail)
            if scan and "INDEX" not in detail:
                plan.seq_scans.append(scan.group(1))
        return plan


def _walk_pg(node: dict, plan: Plan) -> None:
    plan.node_types.append(node.get("Node Type", "?"))
    if node.get("Index Name"):
        plan.indexes.append(node["Index Name"])
    if node.get("Node Type") == "Seq Scan":
        plan.seq_scans.append(node.get("Relation Name", "?"))
    for child in node.get("Plans", ()):
        _walk_pg(child, plan)


def time_query(query: HotQuery, ctx: HotContext, *, runs: int = 5, warmup: int = 1, before: bool = False) -> float:
    """Median wall time in milliseconds of running the query (through the ORM, as the page does).

    A query slower than a second on its warm-up run is timed 3 times at most, which keeps a
    "before the indices" benchmark inside a few minutes without changing what it shows.
    """
    run = query.runner(before=before)
    slow = False
    for _ in range(warmup):
        started = time.perf_counter()
        run(ctx)
        slow = time.perf_counter() - started > 1.0
    samples = []
    for _ in range(min(runs, 3) if slow else runs):
        started = time.perf_counter()
        run(ctx)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def applicable(ctx: HotContext) -> list[HotQuery]:
    """The hot queries that make sense for the context (a roster needs a group, a keyset page
    a church with more than one page)."""
    return [q for q in HOT_QUERIES
            if not (q.needs_group and ctx.group is None) and not (q.needs_keyset and ctx.keyset_after is None)
            and not (q.needs_keyset and ctx.joined_keyset_after is None)]
