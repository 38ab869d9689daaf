"""Attendance writes, and the cache invalidation they cause."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from cachemon import cache_aside, keys
from members import services as member_services
from members.models import Church, Group, Member
from members.timezones import church_today

from . import tallies
from .models import Attendance, HeadCount

# One save may carry the ticks of every page and search of a session (kept by the browser until
# saved: static/js/attendance.js); far beyond this it is not a real form.
MAX_SHOWN = 5000
MAX_HEAD_COUNT = 1_000_000


@dataclass(frozen=True)
class RecordResult:
    added: int
    removed: int
    headcount: int  # everyone present for the session after the write, on every page


def attendance_check_session(*, church: Church, date: datetime.date, group: Group | None) -> None:
    """Raise ValidationError when attendance cannot be recorded for this date and group."""
    if date > church_today(church):
        raise ValidationError("Attendance cannot be recorded for a date in the future.", code="future")
    if group is not None:
        if group.church_id != church.id:
            # Views fetch groups through `get_for_church`; this guards every other caller.
            raise ValidationError("This group belongs to another church.", code="tenant")
        if group.archived:
            raise ValidationError(
                f"“{group.name}” is archived: attendance cannot be recorded for it.", code="archived",
            )


MAX_ID = 2**63 - 1  # beyond a bigint, PostgreSQL would refuse the query with an error


def _ids(values: Iterable[object]) -> set[int]:
    try:
        ids = {int(v) for v in values}
    except (TypeError, ValueError, OverflowError):
        ids = {-1}
    if any(not 0 < i <= MAX_ID for i in ids):
        raise ValidationError("The list of people was not understood; nothing was saved.", code="bad_ids")
    return ids


def attendance_record(
    *,
    church: Church,
    date: datetime.date,
    group: Group | None,
    present_member_ids: Iterable[object],
    shown_member_ids: Iterable[object],
    absent_member_ids: Iterable[object] = (),
) -> RecordResult:
    """Save ticks for a session (the service when `group` is None).

    Only the people named are touched: `present` ones are recorded present; `shown` ones that
    are not ticked (the checklist page the form showed), and `absent` ones (unticked on other
    pages or searches of the same session, sent together by the browser), lose their record.
    So one save records every tick whatever page or search it was made on, and without the
    browser's help paging through a long list still saves page by page. People who are not
    members of the church (or, for a group, not on its roster) are ignored. One transaction,
    bulk statements; the dashboard figures are invalidated on commit. Raises ValidationError
    (nothing changed) for a future date, an archived group, or ids that are not numbers.
    """
    attendance_check_session(church=church, date=date, group=group)
    present = _ids(present_member_ids)
    shown = _ids(shown_member_ids) | _ids(absent_member_ids) | present
    if len(shown) > MAX_SHOWN:
        raise ValidationError(f"At most {MAX_SHOWN} people can be saved at once; nothing was saved.", code="too_many")

    with transaction.atomic():
        # The date's counter row, locked: saves of the same date (any group) take turns, so the
        # headcount delta below is computed against committed rows only.
        day = tallies.lock_day(church.id, date)
        people = Member.objects.for_church(church).filter(id__in=shown)
        if group is not None:
            people = people.filter(memberships__group=group)  # the roster only
        allowed = set(people.values_list("id", flat=True))
        session = Attendance.objects.for_church(church).filter(date=date, group=group)
        removed, _ = session.filter(member_id__in=allowed - present).delete() if allowed - present else (0, None)
        to_add = allowed & present
        existing = set(session.filter(member_id__in=to_add).values_list("member_id", flat=True)) if to_add else set()
        created = Attendance.objects.bulk_create(
            [Attendance(church=church, member_id=m, group=group, date=date) for m in sorted(to_add - existing)],
            # Another staff member saving the same session at the same moment is not an error.
            ignore_conflicts=True,
        )
        tallies.add(day, group_id=group.pk if group else None, delta=len(created) - removed)
        if removed or created:
            cache_aside.invalidate(*keys.ATTENDANCE_WRITE, church_id=church.id)
        headcount = session.count()
    return RecordResult(added=len(created), removed=removed, headcount=headcount)


def attendance_set_head_count(*, church: Church, date: datetime.date, present: int | None) -> int:
    """Record that `present` people were at the church's service on `date`, counted rather
    than named (None or 0 removes the head count). The service's figure for the day becomes the
    larger of this and the people ticked by name. Returns the count stored (0: none).
    Raises ValidationError (nothing changed) for a future date or an impossible number."""
    attendance_check_session(church=church, date=date, group=None)
    present = present or 0
    if not 0 <= present <= MAX_HEAD_COUNT:
        raise ValidationError(f"Enter a head count between 0 and {MAX_HEAD_COUNT:,}.", code="head_count")
    with transaction.atomic():
        day = tallies.lock_day(church.id, date)
        if present:
            HeadCount.objects.update_or_create(church=church, date=date, defaults={"present": present})
        else:
            HeadCount.objects.for_church(church).filter(date=date).delete()
        if day.counted != present:
            tallies.set_counted(day, present)
            cache_aside.invalidate(*keys.ATTENDANCE_WRITE, church_id=church.id)
    return present


@dataclass(frozen=True)
class VisitorResult:
    member: Member
    headcount: int


@transaction.atomic
def attendance_add_visitor(*, church: Church, date: datetime.date, group: Group | None, data: dict) -> VisitorResult:
    """A first-time visitor, in one step from the checklist: a new member with status visitor
    who joined on the session's date, added to the group when it is a group's meeting, and
    recorded present. `data` is a `MemberForm`'s cleaned data. All or nothing: a refused part
    (a future date, an archived group, a duplicate email) leaves no member behind."""
    attendance_check_session(church=church, date=date, group=group)
    # Locks in the order every writer takes them (members.tallies): the group, the day, then the
    # member and the counters; member_create alone would take the counters first.
    if group is not None:
        Group.objects.select_for_update().filter(pk=group.pk).exists()
    tallies.lock_day(church.id, date)
    member = member_services.member_create(
        church=church, data={**data, "status": Member.Status.VISITOR, "joined_on": date})
    if group is not None:
        member_services.membership_add(church=church, group=group, member_id=member.pk)
    result = attendance_record(church=church, date=date, group=group, present_member_ids=[member.pk],
                               shown_member_ids=[member.pk])
    return VisitorResult(member=member, headcount=result.headcount)
