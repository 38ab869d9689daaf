"""Reads for the member and group pages, with the cache-aside calls.

What is cached is plain data (lists of small dicts and counts), never model instances or
querysets, so an entry is small, pickles fast and cannot lazily run SQL later. Only the
hot, search-free first pages are cached; deeper pages and searches go to the database.

The member list pages by keyset ("seek"): Next/Previous carry a signed cursor holding the
(last_name, first_name, id) of the row at the page's edge, and the next page is read from
member_church_name_idx starting right there, so page 2,000 costs what page 2 costs. Only a
typed `?page=N` uses OFFSET, and only up to MAX_PAGE_JUMP.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core import signing
from django.db import connection
from django.db.models import BigIntegerField, BooleanField, Count, Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.db.models.lookups import IContains

from cachemon import cache_aside, keys
from replica import reads

from . import tallies
from .models import Church, Group, Member, Membership
from .timezones import church_today
from .validators import phone_query_digits

PER_PAGE = 50
# `?page=N` is an OFFSET, whose cost grows with N (the index is walked past every skipped
# row): typed jumps go at most this deep; Next/Previous (keyset) go anywhere at a flat cost.
MAX_PAGE_JUMP = 200
# A search's total is counted up to here and then shown as "1,000+": an exact count of a
# broad search tests every member of the church, and the bound's cost grows with it (100k
# members, "example.org": 14 ms at 1,000, 108 ms at 10,000, 138 ms exact). Numbered pages of
# such a search stop at the bound; Next goes on.
SEARCH_COUNT_LIMIT = 1_000
MEMBER_ORDER = ("last_name", "first_name", "id")
_CURSOR_SALT = "members.member_list.cursor"
_MAX_ID = 2**63 - 1
SEARCH_MAX_LENGTH = 100
_DIGITS = re.compile(r"\d")
_PHONE_CHARS = re.compile(r"^[\d\s\-+().]+$")

MEMBER_ROW_FIELDS = ("id", "first_name", "last_name", "email", "phone", "status", "joined_on")
ROSTER_ROW_FIELDS = (
    "member_id", "member__first_name", "member__last_name", "member__email", "member__status", "role", "joined_on",
)
STATUS_LABELS = dict(Member.Status.choices)
ROLE_LABELS = dict(Membership.Role.choices)


@dataclass
class PageOf:
    """One page of rows plus what the pagination links need."""

    rows: list[dict]
    total: int
    number: int
    num_pages: int
    per_page: int = PER_PAGE
    extra: dict = field(default_factory=dict)
    # Keyset pages (the member list) know whether a next page exists from the extra row
    # they read, not from the total, which may be a lower bound (`total_capped`).
    keyset: bool = False
    total_capped: bool = False
    next_cursor: str = ""
    previous_cursor: str = ""  # empty on pages 1 and 2: page 1 is linked plainly (and cached)
    jump_capped: bool = False  # a `?page=` past MAX_PAGE_JUMP was asked for

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        if self.keyset:
            return bool(self.next_cursor)
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.rows)


def parse_page(raw: object) -> int:
    """`?page=` as a page number: anything that is not a positive integer means page 1."""
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def _clamp(page: int, total: int, per_page: int) -> tuple[int, int]:
    num_pages = max(1, math.ceil(total / per_page))
    return min(page, num_pages), num_pages


def _slice(qs: QuerySet, page: int, per_page: int = PER_PAGE) -> QuerySet:
    offset = (page - 1) * per_page
    return qs[offset:offset + per_page]


# --- Members ---------------------------------------------------------------------------

def normalize_search(q: str | None) -> str:
    return " ".join((q or "").split())[:SEARCH_MAX_LENGTH]


class MemberSearchText(Func):
    """The first name, last name and email as one string: what a search word is matched against,
    and the expression the trigram index member_church_search_trgm holds
    (migrations/0004_search_trigram_by_church.py), so a word costs one index scan rather than a
    BitmapOr of three. The fields are joined by a space, which no search word contains (words are
    split on whitespace): a word is in this string exactly when it is in one of the fields."""

    arg_joiner = " || ' ' || "
    template = "(%(expressions)s)"
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(F("first_name"), F("last_name"), F("email"))


def member_search_filter(q: str, region: str = "") -> Q:
    """Every word of `q` must match the first name, last name, email or phone.

    A phone-like query is matched on the digits of the stored E.164 number, however it was
    typed: a whole number valid in the church's `region` ("(808) 555-1234") by its E.164 digits
    (libphonenumber, members.validators), a fragment ("555-123 45", "+1 (555)") by its own
    digits. On PostgreSQL the words are looked up in member_church_search_trgm and the digits
    in member_church_phone_trgm, both inside the church (member_search_qs).
    """
    if _PHONE_CHARS.match(q):
        digits = phone_query_digits(q, region) or _phone_digits(q)
        if len(digits) >= 3:
            return Q(phone__contains=digits)
    condition = Q()
    for word in q.split():
        word_q = Q(IContains(MemberSearchText(), word))
        digits = _phone_digits(word)
        if len(digits) >= 3:
            word_q |= Q(phone__contains=digits)
        condition &= word_q
    return condition


def _phone_digits(text: str) -> str:
    # Leading zeros are a national trunk prefix ("020 7123 4567") or the international
    # "00": neither is in the stored E.164 number (+442071234567).
    return "".join(_DIGITS.findall(text)).lstrip("0")


def _member_rows(qs: QuerySet) -> list[dict]:
    rows = list(qs.values(*MEMBER_ROW_FIELDS))
    for row in rows:
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return rows


# --- The member list's filters and sorts -------------------------------------------------

# `?sort=`: the columns of each order, the id last (the keyset's tiebreak); each is read in
# the order of an index that leads with the church (members/migrations/0008).
MEMBER_SORTS: dict[str, tuple[str, ...]] = {
    "name": MEMBER_ORDER,
    "joined": ("joined_on", "id"),
    "-joined": ("-joined_on", "-id"),
}
SORT_LABELS = {"name": "Name", "joined": "Joined, oldest first", "-joined": "Joined, newest first"}
# `?status=`: "active" is the dashboard's (regular attenders and members); "current" is everyone
# but inactive people (the dashboard's "not in a group" counts those).
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    **{status: (status,) for status in Member.Status.values},
    "active": (Member.Status.REGULAR, Member.Status.MEMBER),
    "current": (Member.Status.VISITOR, Member.Status.REGULAR, Member.Status.MEMBER),
}
STATUS_FILTER_LABELS = {
    "active": "Active (regular attenders + members)",
    **{value: str(label) for value, label in Member.Status.choices},
    "current": "Everyone but inactive",
}
NO_GROUP = "none"
MAX_NEW_DAYS = 366


@dataclass(frozen=True)
class MemberFilter:
    """What the member list (and its export) shows: a status, a group (or no current group)
    and an order. The default shows everyone by name."""

    status: str = ""  # a key of STATUS_FILTERS, or "" for every status
    group_id: int | None = None  # one of the church's groups
    group_name: str = ""
    no_group: bool = False  # in no current (not archived) group
    new_days: int | None = None  # joined in the last N days (today and the N days before it)
    sort: str = "name"
    today: datetime.date | None = None  # the church's, for `new_days`

    @property
    def is_default(self) -> bool:
        return not self.filters and self.sort == "name"

    @property
    def filters(self) -> bool:
        """Whether some people are left out (a sort alone leaves out nobody)."""
        return bool(self.status or self.group_id or self.no_group or self.new_days)

    @property
    def joined_since(self) -> datetime.date | None:
        if not self.new_days or self.today is None:
            return None
        return self.today - datetime.timedelta(days=self.new_days)

    def key_parts(self) -> tuple:
        """Everything that changes the rows: part of the cached first page's key (with the
        date the "new" window starts, so a new day starts a new entry)."""
        group = NO_GROUP if self.no_group else (self.group_id or "-")
        return (self.status or "-", group, self.sort, self.joined_since or "-")

    def params(self) -> dict[str, str]:
        """The query parameters that select this filter (the defaults left out)."""
        params = {}
        if self.status:
            params["status"] = self.status
        if self.no_group:
            params["group"] = NO_GROUP
        elif self.group_id:
            params["group"] = str(self.group_id)
        if self.new_days:
            params["new"] = str(self.new_days)
        if self.sort != "name":
            params["sort"] = self.sort
        return params

    def apply(self, qs: QuerySet) -> QuerySet:
        statuses = STATUS_FILTERS.get(self.status)
        if statuses:
            qs = qs.filter(status=statuses[0]) if len(statuses) == 1 else qs.filter(status__in=statuses)
        if self.group_id:
            qs = qs.filter(memberships__group_id=self.group_id)  # one membership per (group, member)
        elif self.no_group:
            current = Membership.objects.filter(member=OuterRef("pk"), group__archived=False)
            qs = qs.filter(~Exists(current))
        if self.joined_since is not None:
            qs = qs.filter(joined_on__gte=self.joined_since, joined_on__lte=self.today)
        return qs

    @property
    def order(self) -> tuple[str, ...]:
        return MEMBER_SORTS[self.sort]

    @property
    def description(self) -> str:
        """The filter in words, for the page's heading and the export's file name."""
        parts = []
        if self.status:
            parts.append(STATUS_FILTER_LABELS[self.status])
        if self.no_group:
            parts.append("in no group")
        elif self.group_id:
            parts.append(f"in {self.group_name}")
        if self.new_days:
            parts.append(f"joined in the last {self.new_days} days")
        return ", ".join(parts)


DEFAULT_FILTER = MemberFilter()


def member_filter_parse(*, church: Church, params) -> tuple[MemberFilter, list[str]]:
    """The filter that `?status=`, `?group=` and `?sort=` ask for, and what was not understood
    (an unknown value is left out of the filter, with a message saying so; never an error)."""
    problems = []
    status = (params.get("status") or "").strip()
    if status and status not in STATUS_FILTERS:
        problems.append("Unknown status filter: showing every status.")
        status = ""
    sort = (params.get("sort") or "").strip() or "name"
    if sort not in MEMBER_SORTS:
        problems.append("Unknown order: showing the list by name.")
        sort = "name"
    raw_group = (params.get("group") or "").strip()
    group_id, group_name, no_group = None, "", False
    if raw_group == NO_GROUP:
        no_group = True
    elif raw_group:
        name = _church_group_name(church, raw_group)
        if name is None:
            problems.append("That group is not one of this church's (it may have been deleted): showing every group.")
        else:
            group_id, group_name = int(raw_group), name
    raw_new = (params.get("new") or "").strip()
    new_days = None
    if raw_new:
        if raw_new.isascii() and raw_new.isdigit() and 1 <= int(raw_new) <= MAX_NEW_DAYS:
            new_days = int(raw_new)
        else:
            problems.append(f"“New” takes a number of days from 1 to {MAX_NEW_DAYS}: showing every join date.")
    flt = MemberFilter(status=status, group_id=group_id, group_name=group_name, no_group=no_group,
                       new_days=new_days, sort=sort, today=church_today(church) if new_days else None)
    return flt, problems


def _church_group_name(church: Church, raw: str) -> str | None:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    group_id = int(raw)
    # Current groups from the cached choices (no SQL on a warm page); archived ones from the table.
    for choice_id, name, _ in group_choices(church=church):
        if choice_id == group_id:
            return name
    return Group.objects.for_church(church).filter(pk=group_id).values_list("name", flat=True).first()


def member_filter_total(*, church: Church, flt: MemberFilter) -> int:
    """How many of the church's members the (unsearched) filter shows. A status, and being in no
    current group, are sums over the church's tallies (a few hundred rows); a group's members
    are counted through the group's memberships (its size at most)."""
    if flt.group_id or flt.new_days:
        # A group's memberships, or a range of member_church_joined_id_idx: bounded, index-only.
        return flt.apply(Member.objects.for_church(church)).order_by().count()
    statuses = set(STATUS_FILTERS.get(flt.status, Member.Status.values))
    return sum(n for status, _, in_group, n in tallies.member_buckets(church.id)
               if status in statuses and not (flt.no_group and in_group))


@dataclass(frozen=True)
class MemberCursor:
    """A position in the member list: the values of the sort's columns at a row (the id last),
    and the number of the page that a link with this cursor opens (shown as "Page N"; display only)."""

    values: tuple
    number: int
    sort: str = "name"


def _cursor_salt(church: Church, sort: str) -> str:
    # Bound to the church: a cursor made for another church is refused outright (it could
    # not show anything of that church anyway, since every read is scoped to this one). And to
    # the sort, whose columns it holds.
    return f"{_CURSOR_SALT}:{church.id}" + ("" if sort == "name" else f":{sort}")


def _sort_columns(sort: str) -> tuple[str, ...]:
    return tuple(column.lstrip("-") for column in MEMBER_SORTS[sort])


def member_cursor_encode(*, church: Church, row: dict, number: int, sort: str = "name") -> str:
    """An opaque, signed `?after=`/`?before=` token for the position of `row` in `sort`'s order."""
    value = [row[column].isoformat() if isinstance(row[column], datetime.date) else row[column]
             for column in _sort_columns(sort)]
    return signing.dumps([*value, number], salt=_cursor_salt(church, sort), compress=True)


def member_cursor_decode(*, church: Church, token: str | None, sort: str = "name") -> MemberCursor | None:
    """The cursor in `token`, or None when it is missing, garbled, tampered with, another
    church's or another order's: the caller then shows the first page."""
    if not token or len(token) > 1024:
        return None
    try:
        value = signing.loads(token, salt=_cursor_salt(church, sort))
    except (signing.BadSignature, ValueError):
        return None
    columns = _sort_columns(sort)
    if not (isinstance(value, list) and len(value) == len(columns) + 1):
        return None
    *values, number = value
    if not (type(number) is int and 2 <= number <= _MAX_ID):
        return None
    checked = []
    for column, item in zip(columns, values):
        if column == "id":
            if not (type(item) is int and 0 < item <= _MAX_ID):
                return None
        elif column == "joined_on":
            try:
                item = datetime.date.fromisoformat(item)
            except (TypeError, ValueError):
                return None
        elif not isinstance(item, str):
            return None
        checked.append(item)
    return MemberCursor(values=tuple(checked), number=number, sort=sort)


def member_search_qs(*, church: Church, q: str) -> QuerySet:
    """The church's members that match the (normalized) search `q`.

    Scoped like for_church, but with the church id cast to bigint: member_church_search_trgm
    leads with church_id through btree_gin, whose operator class only has bigint = bigint, and
    for_church's plain integer (bigint = integer) would keep the church out of the index scan:
    every church's matches would be read from the table, then filtered ("steve" at 1.1M members:
    9,925 rows read to keep the 908 of the 100,000-member church, 19 ms instead of 3.7 ms).
    The cast lives here rather than in for_church: every other tenant query is served by btree
    indices, for which the plain integer is as good, and the Cast adds ~0.3 ms of ORM time to
    each (directory first page, 2.4 -> 2.7 ms).
    """
    return (Member.objects.filter(church_id=Cast(Value(church.pk), BigIntegerField()))
            .filter(member_search_filter(q, church.phone_region)))


def member_search_total(*, church: Church, q: str, flt: MemberFilter = DEFAULT_FILTER) -> tuple[int, bool]:
    """(total, capped): the search's matches counted up to SEARCH_COUNT_LIMIT (then "1,000+")."""
    matched = flt.apply(member_search_qs(church=church, q=q)).order_by().values("id")[:SEARCH_COUNT_LIMIT + 1].count()
    return min(matched, SEARCH_COUNT_LIMIT), matched > SEARCH_COUNT_LIMIT


def _order_sql(order: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{quote(column.lstrip('-'))}{' DESC' if column.startswith('-') else ''}" for column in order)


def member_search_first_page(*, church: Church, q: str,
                             flt: MemberFilter = DEFAULT_FILTER) -> tuple[list[dict], int, bool]:
    """The first page of a search, as (rows, total, capped): up to PER_PAGE + 1 rows in the
    filter's order (the extra one says a next page exists) and the bounded total.

    One statement when at most SEARCH_COUNT_LIMIT members match, which is nearly every search:
    it reads at most SEARCH_COUNT_LIMIT + 1 matches in no particular order (a bounded bitmap
    scan of member_church_search_trgm), counts them (COUNT(*) OVER ()) and sorts them; when
    they are all the matches, their first rows are the page. Reading the page and counting
    separately would visit every match twice, and an ordered LIMIT lets the planner walk
    member_church_name_idx hoping to meet 51 matches early, which for a surname clustered in
    the alphabet reads half the church ("king": 43,421 rows, 94 ms). Only when the bound is
    hit (the count is then "1,000+") is the page read again, in order: a broad search meets
    51 matches early.
    """
    qs = flt.apply(member_search_qs(church=church, q=q))
    # The subquery is the ORM's own SQL (scoping and search filter included); Django has no
    # FROM (subquery), so the statement around it is written here.
    sql, params = qs.order_by().values(*MEMBER_ROW_FIELDS)[:SEARCH_COUNT_LIMIT + 1].query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in MEMBER_ROW_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, COUNT(*) OVER () FROM ({sql}) AS {quote('matches')} "
            f"ORDER BY {_order_sql(flt.order)} LIMIT {PER_PAGE + 1}",
            params,
        )
        page = cursor.fetchall()
    matched = page[0][-1] if page else 0
    if matched > SEARCH_COUNT_LIMIT:
        return _member_rows(qs.order_by(*flt.order)[:PER_PAGE + 1]), SEARCH_COUNT_LIMIT, True
    # Plain tuples rather than model instances (raw()), which are dearer to build; to_python
    # converts as the ORM would (SQLite returns dates as text).
    fields = [Member._meta.get_field(name) for name in MEMBER_ROW_FIELDS]
    rows = [{field.name: field.to_python(value) for field, value in zip(fields, row)} for row in page]
    for row in rows:
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return rows, matched, False


def member_list_qs(*, church: Church, q: str = "", flt: MemberFilter = DEFAULT_FILTER) -> QuerySet:
    """The church's members that the search and the filter show (unordered)."""
    return flt.apply(member_search_qs(church=church, q=q) if q else Member.objects.for_church(church))


def member_seek(qs: QuerySet, cursor: MemberCursor, *, forward: bool) -> QuerySet:
    """`qs` from just after (`forward`) or just before the cursor's row, in the cursor's order
    (reversed when going back).

    A row-value comparison, not `a > x OR (a = x AND b > y) ...`: PostgreSQL (and SQLite
    >= 3.15) turn it into an index condition on the sort's index and start reading at the
    cursor; the OR form is only a filter, applied to every row before it."""
    order = MEMBER_SORTS[cursor.sort]
    descending = order[0].startswith("-")
    table = connection.ops.quote_name(Member._meta.db_table)
    columns = ", ".join(f"{table}.{connection.ops.quote_name(name)}" for name in _sort_columns(cursor.sort))
    after = forward != descending
    condition = RawSQL(
        f"({columns}) {'>' if after else '<'} ({', '.join(['%s'] * len(cursor.values))})",
        cursor.values, output_field=BooleanField(),
    )
    if not forward:
        order = tuple(column[1:] if column.startswith("-") else f"-{column}" for column in order)
    return qs.filter(condition).order_by(*order)


def _member_first_page_uncached(church: Church, flt: MemberFilter) -> dict:
    # The total from the church's tallies (a few hundred rows), not COUNT(*) over its members.
    total = member_filter_total(church=church, flt=flt)
    rows = member_offset_rows(church=church, q="", offset=0, flt=flt) if total else []
    return {"rows": rows[:PER_PAGE], "total": total, "more": len(rows) > PER_PAGE}


def _member_first_page(church: Church, flt: MemberFilter) -> dict:
    return cache_aside.cached(
        # "page1": every part of the filter is in the key (a group id only once known to be the
        # church's: made-up ids store nothing).
        keys.MEMBERS, church_id=church.id, parts=("page1", *flt.key_parts()),
        fetch=lambda: _member_first_page_uncached(church, flt), ttl=keys.TTL_MEDIUM,
    )


def _member_total(church: Church, q: str, flt: MemberFilter) -> tuple[int, bool]:
    """(total, capped). The unsearched total comes with the cached first page (exact, and
    fresh: every member write invalidates it); a search counts its matches up to the limit."""
    if not q:
        return _member_first_page(church, flt)["total"], False
    return member_search_total(church=church, q=q, flt=flt)


def member_offset_rows(*, church: Church, q: str, offset: int, flt: MemberFilter = DEFAULT_FILTER) -> list[dict]:
    """PER_PAGE + 1 rows from `offset` in the filter's order: a typed `?page=N`, which has no row
    to seek from, so OFFSET it is; its cost grows with the page, hence MAX_PAGE_JUMP.

    A deferred join: the OFFSET walks the order's index for ids only (an index-only scan, e.g.
    member_church_name_idx holds (church, last_name, first_name, id)), and only the 51 rows of
    the page are then read from the table. Page 200 of a 100,000-member church: 9-14 ms as a
    plain OFFSET over whole rows, 3.7 ms so (EXPLAIN ANALYZE, 1.1M members).
    """
    ordered = member_list_qs(church=church, q=q, flt=flt).order_by(*flt.order)
    if not offset:
        # The first page skips nothing: the plain ordered LIMIT is the same index walk, and
        # without the subquery the ORM builds its SQL in half the time (2.4 vs 4.2 ms in all).
        return _member_rows(ordered[:PER_PAGE + 1])
    ids = ordered.values("id")[offset:offset + PER_PAGE + 1]
    return _member_rows(Member.objects.for_church(church).filter(pk__in=ids).order_by(*flt.order))


def _member_page(church: Church, *, rows: list[dict], total: int, capped: bool, number: int,
                 more_after: bool, flt: MemberFilter, jump_capped: bool = False) -> PageOf:
    num_pages = max(1, math.ceil(total / PER_PAGE), number)

    def cursor(row: dict, at: int) -> str:
        return member_cursor_encode(church=church, row=row, number=at, sort=flt.sort)

    return PageOf(
        rows=rows, total=total, number=number, num_pages=num_pages, keyset=True, total_capped=capped,
        jump_capped=jump_capped,
        next_cursor=cursor(rows[-1], number + 1) if rows and more_after else "",
        previous_cursor=cursor(rows[0], number - 1) if rows and number > 2 else "",
    )


def member_list_page(*, church: Church, q: str = "", page: int = 1, after: str = "", before: str = "",
                     flt: MemberFilter = DEFAULT_FILTER) -> PageOf:
    """One page (50 rows) of the church's members that the filter shows (a status, a group or
    no group; by name or by join date), optionally narrowed by a search.

    `after`/`before` are the cursors of the Next/Previous links: a constant-time seek from
    the row at the edge of the page the user was on (an invalid cursor means the first
    page). Without a cursor, `page` is a typed page number: OFFSET, capped at MAX_PAGE_JUMP;
    a page past the end shows the last page. The first page without a search is what staff
    open all day: it is cached per filter (namespace MEMBERS, invalidated by every member and
    membership write), and it carries the filter's total for its other unsearched pages.
    """
    q = normalize_search(q)
    forward = member_cursor_decode(church=church, token=after, sort=flt.sort)
    cursor = forward or member_cursor_decode(church=church, token=before, sort=flt.sort)
    shape = {"flt": flt}
    if cursor is not None:
        total, capped = _member_total(church, q, flt)
        rows = _member_rows(member_seek(member_list_qs(church=church, q=q, flt=flt), cursor,
                                        forward=forward is not None)[:PER_PAGE + 1])
        if not rows:
            # The rows past the cursor were deleted since the link was made.
            return member_list_page(church=church, q=q, flt=flt)
        more = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        if forward is not None:
            return _member_page(church, rows=rows, total=total, capped=capped, number=cursor.number, more_after=more,
                                **shape)
        rows.reverse()
        # Nothing before these rows: this is the first page, however many rows it holds.
        number = cursor.number if more else 1
        return _member_page(church, rows=rows, total=total, capped=capped, number=number, more_after=True, **shape)
    if page == 1 and not q:
        data = _member_first_page(church, flt)
        return _member_page(church, rows=data["rows"], total=data["total"], capped=False, number=1,
                            more_after=data["more"], **shape)
    if q and page == 1:
        # The rows and their count in one statement (two only past SEARCH_COUNT_LIMIT matches).
        rows, total, capped = member_search_first_page(church=church, q=q, flt=flt)
        return _member_page(church, rows=rows[:PER_PAGE], total=total, capped=capped, number=1,
                            more_after=len(rows) > PER_PAGE, **shape)
    total, capped = _member_total(church, q, flt)
    num_pages = max(1, math.ceil(total / PER_PAGE))
    number = min(page, num_pages, MAX_PAGE_JUMP)
    rows = []
    if total:
        rows = member_offset_rows(church=church, q=q, offset=(number - 1) * PER_PAGE, flt=flt)
    # Past the last page of a known total is the last page; past MAX_PAGE_JUMP, or past the
    # bound of a search's count, numbers stop (and the page says so): Next goes on from there.
    jump_capped = page > number and (capped or number == MAX_PAGE_JUMP)
    return _member_page(church, rows=rows[:PER_PAGE], total=total, capped=capped, number=number,
                        more_after=len(rows) > PER_PAGE, jump_capped=jump_capped, **shape)


def member_profile(*, church: Church, member_id: int, attendance_limit: int) -> dict | None:
    """Everything the member's page shows (the member, groups, the first page of their attendance
    and whether there is more), or None when the church has no such member. Cached per member in
    `keys.PROFILES`, which member, group, membership and attendance writes invalidate."""
    return cache_aside.cached(
        keys.PROFILES, church_id=church.id, parts=(member_id, attendance_limit, "v2"),
        fetch=lambda: _member_profile_uncached(church, member_id, attendance_limit), ttl=keys.TTL_MEDIUM,
    )


def member_attendance_page(*, church: Church, member: Member, limit: int, page: int) -> tuple[list, bool]:
    """(records, more): page `page` of the member's attendance, newest first, and whether an
    older page exists (one row more than a page is read: no COUNT of their whole history)."""
    from attendance.selectors import member_attendance_history  # attendance imports members: import late

    rows = member_attendance_history(church=church, member=member, limit=limit + 1, offset=(page - 1) * limit)
    return rows[:limit], len(rows) > limit


def _member_profile_uncached(church: Church, member_id: int, attendance_limit: int) -> dict | None:
    found = member_with_groups(church=church, member_id=member_id)
    if found is None:
        return None
    member, memberships = found
    attendance, more = member_attendance_page(church=church, member=member, limit=attendance_limit, page=1)
    return {"member": member, "memberships": memberships, "attendance": attendance, "attendance_more": more}


PROFILE_MEMBER_FIELDS = ("id", "church_id", "first_name", "last_name", "email", "phone", "status", "joined_on",
                         "birth_date", "created_at", "updated_at")
PROFILE_MEMBERSHIP_FIELDS = {  # Membership attribute -> the joined column it is read from
    "id": "memberships__id", "role": "memberships__role", "joined_on": "memberships__joined_on",
    "group_id": "memberships__group_id",
}
PROFILE_GROUP_FIELDS = {"name": "memberships__group__name", "archived": "memberships__group__archived"}


def member_with_groups(*, church: Church, member_id: int) -> tuple[Member, list[Membership]] | None:
    """The church's member and their memberships with their groups (archived groups last), in
    one query: the member LEFT JOINed to memberships and groups, a row per membership (one row
    of NULLs for someone in no group). None when the church has no such member."""
    rows = list(
        Member.objects.for_church(church).filter(pk=member_id)
        .order_by("memberships__group__archived", "memberships__group__name", "memberships__id")
        .values(*PROFILE_MEMBER_FIELDS, *PROFILE_MEMBERSHIP_FIELDS.values(), *PROFILE_GROUP_FIELDS.values())
    )
    if not rows:
        return None
    member = Member(**{name: rows[0][name] for name in PROFILE_MEMBER_FIELDS})
    memberships = []
    for row in rows:
        if row["memberships__id"] is None:
            continue  # the member's own row: in no group
        group = Group(id=row["memberships__group_id"], church_id=church.id,
                      **{name: row[column] for name, column in PROFILE_GROUP_FIELDS.items()})
        membership = Membership(member=member, **{name: row[column] for name, column in PROFILE_MEMBERSHIP_FIELDS.items()})
        membership.group = group
        memberships.append(membership)
    return member, memberships


EXPORT_FIELDS = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")


def member_export_rows(*, church: Church, q: str = "", flt: MemberFilter = DEFAULT_FILTER,
                       chunk_size: int = 2000) -> Iterator[tuple]:
    """The church's members that the list shows (its search and filter; everyone by default),
    in the list's order, as tuples of `EXPORT_FIELDS`, streamed from the database in chunks (a
    100k-member church is never held in memory), from the streaming replica when it has caught
    up with the primary (replica.reads, "export"; a replica failing mid-stream is taken over by
    the primary from the last row sent, hence the sort's columns after the fields)."""
    q = normalize_search(q)
    ordered = member_list_qs(church=church, q=q, flt=flt).order_by(*flt.order)
    columns = _sort_columns(flt.sort)

    def rows_after(row: tuple | None) -> Iterator[tuple]:
        qs = ordered
        if row is not None:
            qs = member_seek(qs, MemberCursor(values=tuple(row[len(EXPORT_FIELDS):]), number=2, sort=flt.sort),
                             forward=True)
        return qs.values_list(*EXPORT_FIELDS, *columns).iterator(chunk_size=chunk_size)

    return (row[:len(EXPORT_FIELDS)] for row in reads.lag_tolerant_iter("export", rows_after))


# --- Groups ----------------------------------------------------------------------------

def _group_list_uncached(church: Church, archived: bool, page: int) -> dict:
    groups_qs = Group.objects.for_church(church)
    counts = groups_qs.order_by().aggregate(
        n_archived=Count("id", filter=Q(archived=True)), n_active=Count("id", filter=Q(archived=False)),
    )
    total, other = (
        (counts["n_archived"], counts["n_active"]) if archived else (counts["n_active"], counts["n_archived"])
    )
    number, num_pages = _clamp(page, total, PER_PAGE)
    groups = list(_slice(
        groups_qs.filter(archived=archived).order_by("name", "id")
        .values("id", "name", "kind", "description", "archived", size=F("member_count")),
        number,
    ))
    leaders: dict[int, list[str]] = {}
    leader_rows = (
        Membership.objects.filter(group_id__in=[g["id"] for g in groups], role=Membership.Role.LEADER)
        .order_by("member__last_name", "member__first_name")
        .values_list("group_id", "member__first_name", "member__last_name")
    )
    for group_id, first, last in leader_rows:
        leaders.setdefault(group_id, []).append(f"{first} {last}".strip())
    kinds = dict(Group.Kind.choices)
    for group in groups:
        group["leaders"] = leaders.get(group["id"], [])
        group["kind_label"] = kinds.get(group["kind"], group["kind"])
    return {"page": PageOf(rows=groups, total=total, number=number, num_pages=num_pages), "other_count": other}


def group_list(*, church: Church, archived: bool = False, page: int = 1) -> dict:
    """One page of the church's active (or archived) groups with size and leaders, and how
    many groups the other tab has. Three queries; the first page of each tab is cached
    (namespace GROUPS) as plain data, deeper pages read the database."""
    tab = "archived" if archived else "active"
    if page > 1:
        return _group_list_uncached(church, archived, page)
    return cache_aside.cached(
        keys.GROUPS, church_id=church.id, parts=("list", tab, "page1"),
        fetch=lambda: _group_list_uncached(church, archived, 1), ttl=keys.TTL_MEDIUM,
    )


def _roster_page_uncached(group: Group, page: int) -> dict:
    qs = Membership.objects.filter(group=group)
    total = group.member_count  # kept by the membership services: no COUNT(*) of the roster
    page, num_pages = _clamp(page, total, PER_PAGE)
    rows = []
    if total:
        # Leaders first ("leader" < "member"), then by name.
        ordered = qs.order_by("role", "member__last_name", "member__first_name", "member_id")
        rows = list(_slice(ordered, page).values(*ROSTER_ROW_FIELDS))
    for row in rows:
        row["role_label"] = ROLE_LABELS.get(row["role"], row["role"])
        row["status_label"] = STATUS_LABELS.get(row["member__status"], row["member__status"])
    return {"rows": rows, "total": total, "number": page, "num_pages": num_pages}


def group_with_roster_page(*, church: Church, group_id: int, page: int = 1) -> tuple[Group, PageOf] | None:
    """The church's group and one page of its roster (leaders first), or None when the church
    has no such group. The group with its first page is cached (ROSTERS; group, membership
    and member writes invalidate it), so a warm group page runs no SQL."""
    if page == 1:
        data = cache_aside.cached(
            keys.ROSTERS, church_id=church.id, parts=(group_id, "page1"),
            fetch=lambda: _group_with_roster_uncached(church, group_id, 1), ttl=keys.TTL_MEDIUM,
        )
    else:
        data = _group_with_roster_uncached(church, group_id, page)
    if data is None:
        return None
    roster = data["roster"]
    return data["group"], PageOf(rows=roster["rows"], total=roster["total"], number=roster["number"],
                                 num_pages=roster["num_pages"])


def _group_with_roster_uncached(church: Church, group_id: int, page: int) -> dict | None:
    group = Group.objects.for_church(church).filter(pk=group_id).first()
    if group is None:
        return None
    return {"group": group, "roster": _roster_page_uncached(group, page)}


def group_add_candidates(*, church: Church, group: Group, q: str, limit: int = 20) -> list[dict]:
    """Members of the church matching `q`, for the roster's "Add" search, each flagged when
    already in the group. One query, at most `limit` rows, whatever the church's size."""
    q = normalize_search(q)
    if not q:
        return []
    in_group = Membership.objects.filter(group=group, member=OuterRef("pk"))
    return list(
        member_search_qs(church=church, q=q)
        .annotate(in_group=Exists(in_group))
        .order_by("last_name", "first_name", "id")
        .values("id", "first_name", "last_name", "email", "phone", "in_group")[:limit]
    )


def group_choices(*, church: Church) -> list[tuple[int, str, int | None]]:
    """(id, name, meeting day) of the church's current groups, by name: the member list's group
    filter and the attendance start form choose from these.

    Cached (namespace GROUPS: every group write invalidates it), since both pages are visited
    all day and a big church has thousands of groups.
    """

    def fetch() -> list[tuple[int, str, int | None]]:
        live = Group.objects.for_church(church).filter(archived=False).order_by("name", "id")
        return list(live.values_list("id", "name", "meeting_day"))

    return cache_aside.cached(
        keys.GROUPS, church_id=church.id, parts=("choices", "v2"), fetch=fetch, ttl=keys.TTL_MEDIUM,
    )
