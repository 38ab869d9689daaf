"""Attendance reads: a member's history, recent sessions, and the checklist of people to tick.

Attendance itself is never read through the cache: a staff member recording attendance
must see exactly what is stored (a stale tick would be saved back as truth), and each page
reads one page of rows with a fixed number of queries. Only the list of groups to choose
from is cached.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.db.models.functions import Greatest

from cachemon import cache_aside, keys
from members.models import Church, Group, Member
from members.selectors import group_choices, member_search_qs, normalize_search

from .models import Attendance, HeadCount, SessionCount

SESSIONS_PER_PAGE = 25
CHECKLIST_PER_PAGE = 100


def member_attendance_history(*, church: Church, member: Member, limit: int = 20, offset: int = 0) -> list[Attendance]:
    """The member's attendance records in the church, newest first, `limit` of them from `offset`.

    `group` is preloaded (None means the church's service), so listing them costs one query.
    """
    return list(
        Attendance.objects.for_church(church)
        .filter(member=member)
        .select_related("group")
        .order_by("-date", "-id")[offset:offset + limit]
    )


def member_attendance_total(*, church: Church, member: Member) -> int:
    """How many attendance records the member has (through the records' member index)."""
    return Attendance.objects.for_church(church).filter(member=member).count()


@dataclass(frozen=True)
class Session:
    """One meeting that has attendance: the service (group None) or a group, on a date."""

    date: datetime.date
    group_id: int | None
    group_name: str
    headcount: int
    counted: int = 0  # the service's head count (0: none); `headcount` is the larger of it and the names

    @property
    def is_service(self) -> bool:
        return self.group_id is None


@dataclass(frozen=True)
class SessionsPage:
    """A page of sessions with Newer/Older links: no total, since counting every session of a
    big church means reading every attendance record it ever had (seconds at 2M records)."""

    object_list: list[Session]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


MAX_PAGE = 100_000  # far past any real history; keeps the OFFSET a sane number


def _page_number(raw: object) -> int:
    try:
        return min(max(1, int(str(raw).strip())), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


def attendance_session_rows(*, church: Church) -> QuerySet:
    """The church's sessions as {date, group_id, headcount} rows, newest first (unsliced).

    Read from the sessions' counters (attendance.tallies keeps them exact), backwards along
    `sessioncount_church_date_group`, stopping after the page: a constant cost, where counting
    the records of the page's sessions cost as much as their attendance (a Sunday service of
    a 100,000-member church alone: ~40,000 records). Public so that the query-plan tooling
    explains exactly the page's query.
    """
    return (
        SessionCount.objects.filter(church=church).filter(Q(present__gt=0) | Q(counted__gt=0))
        .order_by("-date", "-group_id")
        .values("date", "group_id", "counted", headcount=Greatest("present", "counted"))
    )


def attendance_sessions(*, church: Church, page: int | str | None) -> SessionsPage:
    """Recent sessions of the church, newest first, grouped by (date, group) with headcounts.

    `SESSIONS_PER_PAGE` a page, the service first on each date; a bad page number means
    page 1. Two queries (the page plus one row to know there is an older page, and the
    page's group names) whatever the number of records.
    """
    number = _page_number(page)
    offset = (number - 1) * SESSIONS_PER_PAGE
    # One row more than a page tells whether there is an older page, without a COUNT of
    # every session (which reads every record). Group names come after, for this page only.
    rows = list(attendance_session_rows(church=church)[offset:offset + SESSIONS_PER_PAGE + 1])
    has_next = len(rows) > SESSIONS_PER_PAGE
    rows = rows[:SESSIONS_PER_PAGE]
    group_ids = {row["group_id"] for row in rows if row["group_id"] is not None}
    names = dict(Group.objects.for_church(church).filter(id__in=group_ids).values_list("id", "name"))
    sessions = [
        Session(
            date=row["date"],
            group_id=row["group_id"],
            group_name="Service" if row["group_id"] is None else names.get(row["group_id"], ""),
            headcount=row["headcount"],
            counted=row["counted"],
        )
        for row in rows
    ]
    # Databases sort NULL differently; show the service first, then groups by name.
    sessions.sort(key=lambda s: (-s.date.toordinal(), not s.is_service, s.group_name.lower(), s.group_id or 0))
    return SessionsPage(object_list=sessions, number=number, has_next=has_next)


@dataclass(frozen=True)
class ChecklistRow:
    member: Member
    present: bool


@dataclass(frozen=True)
class Checklist:
    page: Page  # object_list: ChecklistRow
    headcount: int  # everyone recorded present for the session, not only on this page
    q: str
    include_inactive: bool = False


def _checklist_people(*, church: Church, group: Group | None, q: str, include_inactive: bool):
    # The member directory's own search (and its index), so staff find people the same way on
    # both pages.
    people = member_search_qs(church=church, q=q) if q else Member.objects.for_church(church)
    if not include_inactive:
        # Inactive people are rarely there: hidden unless asked for (`?inactive=1`).
        people = people.exclude(status=Member.Status.INACTIVE)
    if group is not None:
        # The roster: memberships of this (church-checked) group, scoped to the church too
        # so that a bad membership row could never show another church's person.
        people = people.filter(memberships__group=group)
    return people.order_by("last_name", "first_name", "id")


def attendance_checklist(
    *, church: Church, date: datetime.date, group: Group | None, q: str = "", page: int | str | None = 1,
    include_inactive: bool = False,
) -> Checklist:
    """The people to tick for one session: a group's roster or the church's members.

    Searchable like the member directory (every word of `q` matches a name, the email or
    the phone) and paginated at
    `CHECKLIST_PER_PAGE`, because a church can have 100k members. Each row says whether
    the person is already recorded present. Inactive people are left out unless
    `include_inactive`. Four queries whatever the page size.
    """
    q = normalize_search(q)
    people = _checklist_people(church=church, group=group, q=q, include_inactive=include_inactive)
    page_obj = Paginator(people, CHECKLIST_PER_PAGE).get_page(page)
    members = list(page_obj.object_list)
    session = Attendance.objects.for_church(church).filter(date=date, group=group)
    present_ids = set(session.filter(member__in=[m.id for m in members]).values_list("member_id", flat=True))
    page_obj.object_list = [ChecklistRow(member=m, present=m.id in present_ids) for m in members]
    return Checklist(page=page_obj, headcount=session.count(), q=q, include_inactive=include_inactive)


def attendance_head_count(*, church: Church, date: datetime.date) -> int:
    """The service's head count on `date` (0: none recorded)."""
    return HeadCount.objects.for_church(church).filter(date=date).values_list("present", flat=True).first() or 0


def attendance_group_choices(*, church: Church) -> list[tuple[int, str, int | None]]:
    """(id, name, meeting day) of the groups attendance can be recorded for: the church's
    current groups (members.selectors.group_choices, cached)."""
    return group_choices(church=church)
