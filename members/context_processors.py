"""Template context shared by every staff page."""

from __future__ import annotations

import functools

from django.http import HttpRequest
from django.urls import reverse

# Template name -> URL name of every link in base.html's header.
NAV_URLS = {
    "dashboard": "dashboard", "member_list": "member_list", "group_list": "group_list",
    "attendance_list": "attendance_list", "message_list": "message_list", "admin": "admin:index", "logout": "logout",
}


@functools.cache
def _nav_urls() -> dict[str, str]:
    # Reversed once per process: base.html renders on every page, and reversing its six links
    # each time was about half a millisecond of CPU (measured on the dashboard).
    return {key: reverse(name) for key, name in NAV_URLS.items()}


def navigation(request: HttpRequest) -> dict:
    church = getattr(request, "church", None)
    # The church's country: phones of it are shown in national format (members/templatetags/phones.py).
    return {"nav_urls": _nav_urls(), "phone_region": church.phone_region if church is not None else ""}
