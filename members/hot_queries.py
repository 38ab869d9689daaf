"""The hot queries: the reads that staff pages run all day, named once for the tooling and tests.

Each entry builds the same SQL as the selector that serves the page (members/selectors.py,
analytics/selectors.py, attendance/selectors.py), from the selectors' own building blocks where
they are public (`member_search_filter`, the row field lists, the dashboard's constants), so a
plan shown by `manage.py explain_hot_queries`, checked by tests/indices/test_query_plans.py and
timed by scripts/bench_queries.py is the plan of the page. They read through the database,
never the cache (cache-aside would hide the query on a warm page; a cold page still runs it).

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
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from attendance.models import Attendance

from .models import Church, Group, Member, Membership

PER_PAGE = 50
DEEP_PAGE = 1000

# Index names: the critical ones from members/migrations/0002_add_critical_indices.py, and
# those that exist for constraints or were added with the attendance pages.
MEMBER_NAME_INDEX = "member_church_name_idx"
MEMBER_JOINED_INDEX = "member_church_joined_idx"
MEMBER_STATUS_INDEX = "member_church_status_idx"
ATTENDANCE_DATE_INDEX = "attendance_church_date_group"
MEMBERSHIP_GROUP_INDEX = "membership_unique_member_per_group"
GROUP_NAME_INDEX = "group_unique_name_per_church"
CRITICAL_INDEXES = (MEMBER_NAME_INDEX, MEMBER_JOINED_INDEX, MEMBER_STATUS_INDEX)
# PostgreSQL only (GIN, pg_trgm): UPPER(column) gin_trgm_ops, what `icontains` compares.
TRIGRAM_INDEXES = ("member_first_name_trgm", "member_last_name_trgm", "member_email_trgm")


@dataclass(frozen=True)
class HotContext:
    """What the hot queries are run for: one church and realistic arguments inside it."""

    church: Church
    group: Group | None
    search: str
    deep_page: int
    today: datetime.date
    date_from: datetime.date  # attendance range: the dashboard's 12 weeks
    # The (last_name, first_name, id) of the last row before the deep page: where its Next link
    # seeks from (the keyset page is the deep page, read without OFFSET). None: a one-page church.
    keyset_after: tuple[str, str, int] | None = None

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
        total = Member.objects.for_church(church).count()
        pages = max(1, -(-total // PER_PAGE))
        deep = min(deep_page, pages)
        keyset_after = (
            Member.objects.for_church(church).order_by(*DIRECTORY_ORDER)
            .values_list(*DIRECTORY_ORDER)[(deep - 1) * PER_PAGE - 1]
            if deep > 1 else None
        )
        today = timezone.localdate()
        monday = today - datetime.timedelta(days=today.weekday())
        return cls(
            church=church, group=group, search=search, deep_page=deep, today=today,
            date_from=monday - datetime.timedelta(weeks=11), keyset_after=keyset_after,
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
    # A join whose inner side is looked up through an index for each outer row (one church's
    # rows out of many tenants'): on small test data a hash join over the whole table is cheaper,
    # at scale it is not; tests price hash and merge joins out to check the lookup's index.
    nested_loop: bool = False
    needs_keyset: bool = False
    notes: str = ""


def _members(ctx: HotContext):
    return Member.objects.for_church(ctx.church)


def _search_filter(q: str) -> Q:
    # The members engineer's selector decides what a search matches; use it when present.
    try:
        from .selectors import member_search_filter
    except ImportError:  # pragma: no cover - only while the selectors are being written
        condition = Q()
        for word in q.split():
            condition &= Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        return condition
    return member_search_filter(q)


def _member_fields() -> tuple[str, ...]:
    try:
        from .selectors import MEMBER_ROW_FIELDS
    except ImportError:  # pragma: no cover
        return ("id", "first_name", "last_name", "email", "phone", "status", "joined_on")
    return MEMBER_ROW_FIELDS


def _roster_fields() -> tuple[str, ...]:
    try:
        from .selectors import ROSTER_ROW_FIELDS
    except ImportError:  # pragma: no cover
        return ("member_id", "member__first_name", "member__last_name", "member__email", "member__status",
                "role", "joined_on")
    return ROSTER_ROW_FIELDS


DIRECTORY_ORDER = ("last_name", "first_name", "id")


def directory_page(ctx: HotContext, page: int) -> list[dict]:
    # PER_PAGE + 1 rows, as member_list_page reads: the extra row tells whether a next page exists.
    offset = (page - 1) * PER_PAGE
    return list(_members(ctx).order_by(*DIRECTORY_ORDER).values(*_member_fields())[offset:offset + PER_PAGE + 1])


def directory_page_keyset(ctx: HotContext) -> list[dict]:
    """The page a Next link opens: member_list_page's own seek (a row-value comparison from the
    cursor's row), so the audit shows the SQL of the page and not a copy of it."""
    assert ctx.keyset_after is not None
    last_name, first_name, member_id = ctx.keyset_after
    try:
        from .selectors import MemberCursor, _seek
    except ImportError:  # pragma: no cover - only while the selectors are being written
        from django.db.models import BooleanField
        from django.db.models.expressions import RawSQL

        condition = RawSQL('("members_member"."last_name", "members_member"."first_name", "members_member"."id") '
                           "> (%s, %s, %s)", (last_name, first_name, member_id), output_field=BooleanField())
        qs = _members(ctx).filter(condition).order_by(*DIRECTORY_ORDER)
    else:
        cursor = MemberCursor(last_name=last_name, first_name=first_name, id=member_id, number=ctx.deep_page)
        qs = _seek(_members(ctx), cursor, forward=True)
    return list(qs.values(*_member_fields())[:PER_PAGE + 1])


def directory_count(ctx: HotContext) -> int:
    return _members(ctx).count()


def search_page(ctx: HotContext) -> list[dict]:
    qs = _members(ctx).filter(_search_filter(ctx.search)).order_by(*DIRECTORY_ORDER)
    return list(qs.values(*_member_fields())[:PER_PAGE])


def search_count(ctx: HotContext) -> int:
    return _members(ctx).filter(_search_filter(ctx.search)).count()


def group_roster(ctx: HotContext) -> list[dict]:
    qs = Membership.objects.filter(group=ctx.group).order_by("role", "member__last_name", "member__first_name",
                                                            "member_id")
    return list(qs.values(*_roster_fields())[:PER_PAGE])


def _dashboard_constants() -> tuple[tuple[str, ...], int, int]:
    try:
        from analytics.selectors import ACTIVE_STATUSES, GROWTH_MONTHS, NEW_MEMBER_DAYS
    except ImportError:  # pragma: no cover
        return ("regular", "member"), 30, 12
    return tuple(ACTIVE_STATUSES), NEW_MEMBER_DAYS, GROWTH_MONTHS


def _month_start(day: datetime.date, months_back: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 - months_back
    return datetime.date(index // 12, index % 12 + 1, 1)


def dashboard_counts(ctx: HotContext) -> dict:
    """The dashboard's one aggregate over members: totals by status, active, new (as
    analytics.selectors._compute_summary; "no group" is counted from the groups side)."""
    active, new_days, months = _dashboard_constants()
    new_since = ctx.today - datetime.timedelta(days=new_days)
    growth_start = _month_start(ctx.today, months - 1)
    return _members(ctx).order_by().aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status__in=active)),
        new_30d=Count("id", filter=Q(joined_on__gte=new_since, joined_on__lte=ctx.today)),
        before_growth=Count("id", filter=Q(joined_on__lt=growth_start)),
        **{f"status_{s}": Count("id", filter=Q(status=s)) for s in Member.Status.values},
    )


def status_counts(ctx: HotContext) -> dict:
    return dict(_members(ctx).order_by().values("status").annotate(n=Count("id")).values_list("status", "n"))


def new_members_per_month(ctx: HotContext) -> dict:
    _, _, months = _dashboard_constants()
    start = _month_start(ctx.today, months - 1)
    return dict(
        _members(ctx).filter(joined_on__gte=start, joined_on__lte=ctx.today).order_by()
        .annotate(month=TruncMonth("joined_on")).values("month").annotate(n=Count("id")).values_list("month", "n")
    )


def new_members_30d(ctx: HotContext) -> int:
    _, new_days, _ = _dashboard_constants()
    since = ctx.today - datetime.timedelta(days=new_days)
    return _members(ctx).filter(joined_on__gte=since, joined_on__lte=ctx.today).count()


def members_in_no_group(ctx: HotContext) -> dict:
    """The dashboard's aggregate over current groups (analytics.selectors._compute_summary):
    "in no group" is (not inactive) minus `people_in_groups`, counted from the membership side
    (the church's current groups, their memberships, then each member by primary key) rather
    than a NOT EXISTS per member."""
    return Group.objects.for_church(ctx.church).filter(archived=False).order_by().aggregate(
        total=Count("id", distinct=True),
        membership_rows=Count("memberships"),
        people_in_groups=Count(
            "memberships__member", distinct=True,
            filter=~Q(memberships__member__status=Member.Status.INACTIVE),
        ),
    )


def attendance_by_date(ctx: HotContext) -> list[tuple]:
    return list(
        Attendance.objects.for_church(ctx.church).filter(date__gte=ctx.date_from, date__lte=ctx.today).order_by()
        .values("date")
        .annotate(service=Count("id", filter=Q(group__isnull=True)), groups=Count("id", filter=Q(group__isnull=False)))
        .values_list("date", "service", "groups")
    )


def attendance_sessions(ctx: HotContext) -> list[dict]:
    return list(
        Attendance.objects.for_church(ctx.church).values("date", "group_id").annotate(headcount=Count("id"))
        .order_by("-date", "-group_id")[:25]
    )


HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery("directory_page_1", "Member directory, first page", "/members/ (member_list_page)",
             lambda ctx: directory_page(ctx, 1), (MEMBER_NAME_INDEX,), index_order=True,
             notes="ORDER BY last_name, first_name, id LIMIT 50: read in index order, stops after 50 rows"),
    HotQuery("directory_page_deep", "Member directory, deep page (OFFSET)", "/members/?page=N",
             lambda ctx: directory_page(ctx, ctx.deep_page), (MEMBER_NAME_INDEX,), index_order=True,
             notes="OFFSET (N-1)*50: the index is walked past every skipped row"),
    HotQuery("directory_page_keyset", "Member directory, Next page (keyset)", "/members/?after=<cursor>",
             directory_page_keyset, (MEMBER_NAME_INDEX,), index_order=True, needs_keyset=True,
             notes="(last_name, first_name, id) > cursor: the index is entered at the cursor's row and "
                   "read for 51 rows, whatever the depth"),
    HotQuery("directory_count", "Member directory, total", "/members/ (pagination)",
             directory_count, (MEMBER_STATUS_INDEX, MEMBER_JOINED_INDEX, MEMBER_NAME_INDEX),
             notes="COUNT(*) for the church: an index-only scan of any church-leading index"),
    HotQuery("search_page", "Member search, first page", "/members/?q=",
             search_page, (MEMBER_NAME_INDEX, *TRIGRAM_INDEXES, MEMBER_STATUS_INDEX),
             notes="icontains on names and email: the name index walked in order until 50 match, or "
                   "(PostgreSQL) the trigram indices' matches sorted; a small church: all its rows, sorted"),
    HotQuery("search_count", "Member search, total", "/members/?q= (pagination)",
             search_count, (*TRIGRAM_INDEXES, MEMBER_STATUS_INDEX, MEMBER_NAME_INDEX),
             notes="PostgreSQL: BitmapOr of the three trigram indices, then the church; SQLite: every "
                   "member of the church is tested"),
    HotQuery("group_roster", "Group roster, leaders first, by name", "/groups/<id>/ (group_with_roster_page)",
             group_roster, (MEMBERSHIP_GROUP_INDEX,),
             no_seq_scan=("members_member", "members_membership"), needs_group=True,
             notes="memberships of one group, then their members by primary key"),
    HotQuery("dashboard_counts", "Dashboard figures (by status, active, new, no group)", "/dashboard/",
             dashboard_counts, (MEMBER_STATUS_INDEX, MEMBER_JOINED_INDEX, MEMBER_NAME_INDEX),
             notes="one pass over the church's members (a church-leading index), conditional counts"),
    HotQuery("status_counts", "Members by status", "/dashboard/ (status donut)",
             status_counts, (MEMBER_STATUS_INDEX,),
             notes="GROUP BY status for the church: index-only on (church, status)"),
    HotQuery("new_members_per_month", "New members per month (12 months)", "/dashboard/ (growth chart)",
             new_members_per_month, (MEMBER_JOINED_INDEX,),
             notes="range on joined_on inside the church: index-only on (church, joined_on)"),
    HotQuery("new_members_30d", "New members, last 30 days", "/dashboard/ (members_new_30d)",
             new_members_30d, (MEMBER_JOINED_INDEX,)),
    HotQuery("members_no_group", "Members in no current group", "/dashboard/ (members_no_group)",
             members_in_no_group, (MEMBERSHIP_GROUP_INDEX,), nested_loop=True,
             no_seq_scan=("members_member", "members_membership", "members_group"),
             notes="the church's current groups (group_unique_name_per_church), their memberships "
                   "(membership_unique_member_per_group), each member by primary key; distinct count"),
    HotQuery("attendance_by_date", "Attendance by church and date range (12 weeks)", "/dashboard/ (attendance chart)",
             attendance_by_date, (ATTENDANCE_DATE_INDEX,),
             no_seq_scan=("members_member", "attendance_attendance")),
    HotQuery("attendance_sessions", "Recent sessions with headcounts", "/attendance/ (attendance_sessions)",
             attendance_sessions, (ATTENDANCE_DATE_INDEX,),
             no_seq_scan=("members_member", "attendance_attendance")),
)

HOT_QUERY_NAMES = tuple(q.name for q in HOT_QUERIES)


def hot_query(name: str) -> HotQuery:
    for query in HOT_QUERIES:
        if query.name == name:
            return query
    raise KeyError(name)


# --- capture, explain and time ------------------------------------------------------------

def capture_sql(query: HotQuery, ctx: HotContext) -> list[tuple[str, tuple]]:
    """Run the query once and return the SQL statement(s) it sent, with their parameters."""
    statements: list[tuple[str, tuple]] = []

    def wrapper(execute, sql, params, many, context):
        statements.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        query.run(ctx)
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


def time_query(query: HotQuery, ctx: HotContext, *, runs: int = 5, warmup: int = 1) -> float:
    """Median wall time in milliseconds of running the query (through the ORM, as the page does).

    A query slower than a second on its warm-up run is timed 3 times at most, which keeps a
    "before the indices" benchmark inside a few minutes without changing what it shows.
    """
    slow = False
    for _ in range(warmup):
        started = time.perf_counter()
        query.run(ctx)
        slow = time.perf_counter() - started > 1.0
    samples = []
    for _ in range(min(runs, 3) if slow else runs):
        started = time.perf_counter()
        query.run(ctx)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def applicable(ctx: HotContext) -> list[HotQuery]:
    """The hot queries that make sense for the context (a roster needs a group, a keyset page
    a church with more than one page)."""
    return [q for q in HOT_QUERIES
            if not (q.needs_group and ctx.group is None) and not (q.needs_keyset and ctx.keyset_after is None)]
