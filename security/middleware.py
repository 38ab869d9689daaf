"""Rules every request and response shares, whichever view answers.

Guarantees:
- No NUL byte reaches a view, a query or the cache: a NUL (`%00`) in the path, in any query
  parameter (name or value) or in any posted form field answers 400 with a plain message,
  before any view runs (PostgreSQL text cannot hold NUL: it would be a 500 anywhere the value
  met a query, the admin's changelist search included). A cookie holding a NUL is dropped
  instead (the visitor could not remove it by editing an address): a session cookie so
  broken simply means "not logged in".
- Every answer carries a `Permissions-Policy` that turns off the browser features Flock never
  uses (camera, microphone, geolocation, payment, USB, ...), so an injected script or a
  framed page cannot ask for them either.

The Content-Security-Policy comes from django-csp (settings.CONTENT_SECURITY_POLICY) and the
per-page `Cache-Control: private, no-store` from `members.access.staff_view`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string

NUL = "\x00"
NUL_MESSAGE = (
    "This address or form contains a NUL character (%00), which Flock never uses. "
    "Remove it and try again."
)
# Features no Flock page uses; "()" is the empty allow-list: nobody, not even Flock itself.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()" for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
        "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment",
        "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking",
    )
)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(pairs: Iterable[tuple[str, list[str]]]) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in pairs)


def request_has_nul(request: HttpRequest) -> bool:
    """Whether the path, a query parameter or a posted form field holds a NUL byte."""
    if NUL in request.path or _has_nul(request.GET.lists()):
        return True
    # request.POST is parsed at most once (CsrfViewMiddleware reads it anyway); uploaded
    # files are not text and are left to the view (the CSV import refuses binary files).
    return request.method == "POST" and request.content_type in FORM_TYPES and _has_nul(request.POST.lists())


class RequestGuardMiddleware:
    """NUL bytes refused (400) or dropped (cookies) before any view, and Permissions-Policy on every answer."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [name for name, value in request.COOKIES.items() if NUL in name or NUL in value]:
            del request.COOKIES[name]
        if request_has_nul(request):
            response = HttpResponseBadRequest(render_to_string("400.html", {"reason": NUL_MESSAGE}))
        else:
            response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
