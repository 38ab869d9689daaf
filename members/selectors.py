"""Reads for the member and group pages, with the cache-aside calls.

What is cached is plain data (lists of small dicts and counts), never model instances or
querysets, so an entry is small, pickles fast and cannot lazily run SQL later. Only the
hot, search-free first pages are cached; deeper pages and searches go to the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from cachemon import cache_aside, keys

from .models import Church, Group, Member, Membership

PER_PAGE = 50
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

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
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


def _member_page_uncached(church: Church, q: str, page: int) -> dict:
    qs = Member.objects.for_church(church)
    if q:
        qs = qs.filter(member_search_filter(q))
    total = qs.count()
    page, num_pages = _clamp(page, total, PER_PAGE)
    rows = _member_rows(_slice(qs.order_by("last_name", "first_name", "id"), page)) if total else []
    return {"rows": rows, "total": total, "number": page, "num_pages": num_pages}


def member_list_page(*, church: Church, q: str = "", page: int = 1) -> PageOf:
    """One page (50 rows) of the church's members, optionally filtered by a search.

    The first page without a search is what staff open all day: it is cached (namespace
    MEMBERS, invalidated by every member write). A page past the end shows the last page.
    """
    q = normalize_search(q)
    if page == 1 and not q:
        data = cache_aside.cached(
            keys.MEMBERS, church_id=church.id, parts=("page1",),
            fetch=lambda: _member_page_uncached(church, "", 1), ttl=keys.TTL_MEDIUM,
        )
    else:
        data = _member_page_uncached(church, q, page)
    return PageOf(rows=data["rows"], total=data["total"], number=data["number"], num_pages=data["num_pages"])


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

def _group_list_uncached(church: Church, archived: bool) -> dict:
    groups = list(
        Group.objects.for_church(church).filter(archived=archived)
        .annotate(size=Count("memberships"))
        .order_by("name", "id")
        .values("id", "name", "kind", "description", "archived", "size")
    )
    leaders: dict[int, list[str]] = {}
    leader_rows = (
        Membership.objects.filter(group__church=church, group__archived=archived, role=Membership.Role.LEADER)
        .order_by("member__last_name", "member__first_name")
        .values_list("group_id", "member__first_name", "member__last_name")
    )
    for group_id, first, last in leader_rows:
        leaders.setdefault(group_id, []).append(f"{first} {last}".strip())
    kinds = dict(Group.Kind.choices)
    for group in groups:
        group["leaders"] = leaders.get(group["id"], [])
        group["kind_label"] = kinds.get(group["kind"], group["kind"])
    other = Group.objects.for_church(church).filter(archived=not archived).count()
    return {"groups": groups, "other_count": other}


def group_list(*, church: Church, archived: bool = False) -> dict:
    """The church's active (or archived) groups with size and leaders, and how many groups
    the other tab has. Cached (namespace GROUPS) as plain data; three queries when cold."""
    return cache_aside.cached(
        keys.GROUPS, church_id=church.id, parts=("list", "archived" if archived else "active"),
        fetch=lambda: _group_list_uncached(church, archived), ttl=keys.TTL_MEDIUM,
    )


def _roster_page_uncached(group: Group, page: int) -> dict:
    qs = Membership.objects.filter(group=group)
    total = qs.count()
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


def group_roster_page(*, church: Church, group: Group, page: int = 1) -> PageOf:
    """One page of a group's roster, leaders first. The first page is cached (ROSTERS)."""
    if page == 1:
        data = cache_aside.cached(
            keys.ROSTERS, church_id=church.id, parts=(group.id, "page1"),
            fetch=lambda: _roster_page_uncached(group, 1), ttl=keys.TTL_MEDIUM,
        )
    else:
        data = _roster_page_uncached(group, page)
    return PageOf(rows=data["rows"], total=data["total"], number=data["number"], num_pages=data["num_pages"])


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
