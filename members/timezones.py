"""A church's time zone: where every date and time shown to its staff, and every time they
type (a scheduled text, an attendance date, "today"), is read.

Each church has its own (`Church.time_zone`, set in the admin; new churches start in
settings.DEFAULT_CHURCH_TIME_ZONE). Callers use only these functions, never the server's
zone: `members.access.staff_view` also makes the church's zone the current one for the request,
so templates show every datetime in it.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from .models import Church


def church_zone(church: Church) -> ZoneInfo:
    """The time zone the church's staff live in (the default one if the stored name is unknown
    to this machine's zone database, so that a page never fails over it)."""
    try:
        return ZoneInfo(church.time_zone or settings.DEFAULT_CHURCH_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.DEFAULT_CHURCH_TIME_ZONE)


def church_today(church: Church) -> datetime.date:
    """Today's date where the church is (a Sunday evening in Chicago is Monday in UTC)."""
    return timezone.localtime(timezone.now(), church_zone(church)).date()


def most_recent_weekday(today: datetime.date, weekday: int | None) -> datetime.date:
    """The latest date on or before `today` that falls on `weekday` (Monday 0); `today` when
    `weekday` is None."""
    if weekday is None:
        return today
    return today - datetime.timedelta(days=(today.weekday() - weekday) % 7)
