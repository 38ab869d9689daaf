"""Attendance writes, and the cache invalidation they cause."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cachemon import cache_aside, keys
from members.models import Church, Group, Member

from . import tallies
from .models import Attendance

# A checklist page shows at most 100 people; anything far beyond that is not a real form.
MAX_SHOWN = 1000


@dataclass(frozen=True)
class RecordResult:
    added: int
    removed: int
    headcount: int  # everyone present for the session after the write, on every page


def attendance_check_session(*, church: Church, date: datetime.date, group: Group | None) -> None:
    """Raise ValidationError when attendance cannot be recorded for this date and group."""
    if date > timezone.localdate():
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
    except (TypeError, ValueError):
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
) -> RecordResult:
    """Save the ticks of one checklist page for a session (the service when `group` is None).

    Only the people shown on the page are touched: ticked ones are recorded present,
    unticked ones lose their record, so paging through a long list saves page by page.
    People who are not members of the church (or, for a group, not on its roster) are
    ignored. One transaction, bulk statements; the dashboard figures are invalidated on
    commit. Raises ValidationError (nothing changed) for a future date, an archived group,
    or ids that are not numbers.
    """
    attendance_check_session(church=church, date=date, group=group)
    present = _ids(present_member_ids)
    shown = _ids(shown_member_ids) | present
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
