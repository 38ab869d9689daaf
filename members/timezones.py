"""A church's time zone: where every date and time shown to its staff, and every time they
type (a scheduled text), is read.

Churches do not have a time zone field yet: until they do, every church is in
settings.DEFAULT_CHURCH_TIME_ZONE. Callers use only `church_zone`, so the day a church gets its
own zone only this function's body changes.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings

from .models import Church


def church_zone(church: Church) -> ZoneInfo:
    """The time zone the church's staff live in."""
    return ZoneInfo(settings.DEFAULT_CHURCH_TIME_ZONE)
