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

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core import signing
from django.db import connection
from django.db.models import BooleanField, Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL

from cachemon import cache_aside, keys

from . import tallies
from .models import Church, Group, Member, Membership

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


def member_search_filter(q: str) -> Q:
    """Every word of `q` must match the first name, last name, email or phone.

    A phone-like query ("555-123 45", "+1 (555)") is matched on its digits, since phones
    are stored in E.164 and staff type them any way they like.
    """
    if _PHONE_CHARS.match(q):
        digits = _phone_digits(q)
        if len(digits) >= 3:
            return Q(phone__contains=digits)
    condition = Q()
    for word in q.split():
        word_q = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
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


@dataclass(frozen=True)
class MemberCursor:
    """A position in the member list: the (last_name, first_name, id) of a row, and the number
    of the page that a link with this cursor opens (shown as "Page N"; display only)."""

    last_name: str
    first_name: str
    id: int
    number: int


def _cursor_salt(church: Church) -> str:
    # Bound to the church: a cursor made for another church is refused outright (it could
    # not show anything of that church anyway, since every read is scoped to this one).
    return f"{_CURSOR_SALT}:{church.id}"


def member_cursor_encode(*, church: Church, row: dict, number: int) -> str:
    """An opaque, signed `?after=`/`?before=` token for the position of `row`."""
    value = [row["last_name"], row["first_name"], row["id"], number]
    return signing.dumps(value, salt=_cursor_salt(church), compress=True)


def member_cursor_decode(*, church: Church, token: str | None) -> MemberCursor | None:
    """The cursor in `token`, or None when it is missing, garbled, tampered with or another
    church's: the caller then shows the first page."""
    if not token or len(token) > 1024:
        return None
    try:
        value = signing.loads(token, salt=_cursor_salt(church))
    except (signing.BadSignature, ValueError):
        return None
    if not (isinstance(value, list) and len(value) == 4):
        return None
    last_name, first_name, pk, number = value
    if not (isinstance(last_name, str) and isinstance(first_name, str)
            and type(pk) is int and 0 < pk <= _MAX_ID and type(number) is int and 2 <= number <= _MAX_ID):
        return None
    return MemberCursor(last_name=last_name, first_name=first_name, id=pk, number=number)


def _member_qs(church: Church, q: str) -> QuerySet:
    qs = Member.objects.for_church(church)
    return qs.filter(member_search_filter(q)) if q else qs


def _seek(qs: QuerySet, cursor: MemberCursor, *, forward: bool) -> QuerySet:
    # A row-value comparison, not `a > x OR (a = x AND b > y) ...`: PostgreSQL (and SQLite
    # >= 3.15) turn it into an index condition on member_church_name_idx and start reading
    # at the cursor; the OR form is only a filter, applied to every row before it.
    table = connection.ops.quote_name(Member._meta.db_table)
    columns = ", ".join(f"{table}.{connection.ops.quote_name(name)}" for name in MEMBER_ORDER)
    condition = RawSQL(
        f"({columns}) {'>' if forward else '<'} (%s, %s, %s)",
        (cursor.last_name, cursor.first_name, cursor.id), output_field=BooleanField(),
    )
    order = MEMBER_ORDER if forward else tuple(f"-{name}" for name in MEMBER_ORDER)
    return qs.filter(condition).order_by(*order)


def _member_first_page_uncached(church: Church) -> dict:
    qs = _member_qs(church, "")
    # The total from the church's tallies (a few hundred rows), not COUNT(*) over its members.
    total = tallies.member_total(church.id)
    rows = _member_rows(qs.order_by(*MEMBER_ORDER)[:PER_PAGE + 1]) if total else []
    return {"rows": rows[:PER_PAGE], "total": total, "more": len(rows) > PER_PAGE}


def _member_first_page(church: Church) -> dict:
    return cache_aside.cached(
        # "page1-keyset": a new shape ("more"), so entries cached by older code are not read.
        keys.MEMBERS, church_id=church.id, parts=("page1-keyset",),
        fetch=lambda: _member_first_page_uncached(church), ttl=keys.TTL_MEDIUM,
    )


def _member_total(church: Church, q: str) -> tuple[int, bool]:
    """(total, capped). The unsearched total comes with the cached first page (exact, and
    fresh: every member write invalidates it); a search counts its matches up to the limit."""
    if not q:
        return _member_first_page(church)["total"], False
    matched = _member_qs(church, q).order_by().values("id")[:SEARCH_COUNT_LIMIT + 1].count()
    return min(matched, SEARCH_COUNT_LIMIT), matched > SEARCH_COUNT_LIMIT


def _member_page(church: Church, *, rows: list[dict], total: int, capped: bool, number: int,
                 more_after: bool, jump_capped: bool = False) -> PageOf:
    num_pages = max(1, math.ceil(total / PER_PAGE), number)
    return PageOf(
        rows=rows, total=total, number=number, num_pages=num_pages, keyset=True, total_capped=capped,
        jump_capped=jump_capped,
        next_cursor=member_cursor_encode(church=church, row=rows[-1], number=number + 1) if rows and more_after else "",
        previous_cursor=member_cursor_encode(church=church, row=rows[0], number=number - 1) if rows and number > 2 else "",
    )


def member_list_page(*, church: Church, q: str = "", page: int = 1, after: str = "", before: str = "") -> PageOf:
    """One page (50 rows) of the church's members, optionally filtered by a search.

    `after`/`before` are the cursors of the Next/Previous links: a constant-time seek from
    the row at the edge of the page the user was on (an invalid cursor means the first
    page). Without a cursor, `page` is a typed page number: OFFSET, capped at MAX_PAGE_JUMP;
    a page past the end shows the last page. The first page without a search is what staff
    open all day: it is cached (namespace MEMBERS, invalidated by every member write), and
    it carries the church's total for the other unsearched pages.
    """
    q = normalize_search(q)
    forward = member_cursor_decode(church=church, token=after)
    cursor = forward or member_cursor_decode(church=church, token=before)
    if cursor is not None:
        total, capped = _member_total(church, q)
        rows = _member_rows(_seek(_member_qs(church, q), cursor, forward=forward is not None)[:PER_PAGE + 1])
        if not rows:
            # The rows past the cursor were deleted since the link was made.
            return member_list_page(church=church, q=q)
        more = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        if forward is not None:
            return _member_page(church, rows=rows, total=total, capped=capped, number=cursor.number, more_after=more)
        rows.reverse()
        # Nothing before these rows: this is the first page, however many rows it holds.
        number = cursor.number if more else 1
        return _member_page(church, rows=rows, total=total, capped=capped, number=number, more_after=True)
    if page == 1 and not q:
        data = _member_first_page(church)
        return _member_page(church, rows=data["rows"], total=data["total"], capped=False, number=1,
                            more_after=data["more"])
    if q and page == 1:
        rows = _member_rows(_member_qs(church, q).order_by(*MEMBER_ORDER)[:PER_PAGE + 1])
        if len(rows) <= PER_PAGE:
            # Most searches look for someone: one page holds every match, so the rows are
            # the count and the search costs one query.
            return _member_page(church, rows=rows, total=len(rows), capped=False, number=1, more_after=False)
        total, capped = _member_total(church, q)
        return _member_page(church, rows=rows[:PER_PAGE], total=total, capped=capped, number=1, more_after=True)
    total, capped = _member_total(church, q)
    num_pages = max(1, math.ceil(total / PER_PAGE))
    number = min(page, num_pages, MAX_PAGE_JUMP)
    rows = []
    if total:
        # OFFSET on purpose: a typed page number has no row to seek from. Its cost grows with
        # the page (the index is walked past every skipped row), hence MAX_PAGE_JUMP.
        offset = (number - 1) * PER_PAGE
        rows = _member_rows(_member_qs(church, q).order_by(*MEMBER_ORDER)[offset:offset + PER_PAGE + 1])
    # Past the last page of a known total is the last page; past MAX_PAGE_JUMP, or past the
    # bound of a search's count, numbers stop (and the page says so): Next goes on from there.
    jump_capped = page > number and (capped or number == MAX_PAGE_JUMP)
    return _member_page(church, rows=rows[:PER_PAGE], total=total, capped=capped, number=number,
                        more_after=len(rows) > PER_PAGE, jump_capped=jump_capped)


def member_profile(*, church: Church, member_id: int, attendance_limit: int) -> dict | None:
    """Everything the member's page shows (the member, groups, recent attendance), or None when
    the church has no such member. Cached per member in `keys.PROFILES`, which member, group,
    membership and attendance writes invalidate."""
    return cache_aside.cached(
        keys.PROFILES, church_id=church.id, parts=(member_id, attendance_limit),
        fetch=lambda: _member_profile_uncached(church, member_id, attendance_limit), ttl=keys.TTL_MEDIUM,
    )


def _member_profile_uncached(church: Church, member_id: int, attendance_limit: int) -> dict | None:
    from attendance.selectors import member_attendance_history  # attendance imports members: import late

    member = Member.objects.for_church(church).filter(pk=member_id).first()
    if member is None:
        return None
    return {
        "member": member,
        "memberships": member_detail_groups(church=church, member=member),
        "attendance": member_attendance_history(church=church, member=member, limit=attendance_limit),
    }


def member_detail_groups(*, church: Church, member: Member) -> list[Membership]:
    """The member's groups with their role (archived groups last)."""
    return list(
        Membership.objects.filter(member=member, group__church=church)
        .select_related("group")
        .order_by("group__archived", "group__name")
    )


EXPORT_FIELDS = ("first_name", "last_name", "email", "phone", "status", "joined_on", "birth_date")


def member_export_rows(*, church: Church, chunk_size: int = 2000) -> Iterator[tuple]:
    """All the church's members as tuples of `EXPORT_FIELDS`, streamed from the database
    in chunks (a 100k-member church is never held in memory)."""
    qs = Member.objects.for_church(church).order_by("last_name", "first_name", "id").values_list(*EXPORT_FIELDS)
    return qs.iterator(chunk_size=chunk_size)


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
        Member.objects.for_church(church).filter(member_search_filter(q))
        .annotate(in_group=Exists(in_group))
        .order_by("last_name", "first_name", "id")
        .values("id", "first_name", "last_name", "email", "phone", "in_group")[:limit]
    )
