"""Twilio's webhooks: delivery status callbacks (`POST /sms/status/`) and replies
(`POST /sms/inbound/`).

- Signed: X-Twilio-Signature must be the base64 HMAC-SHA1, keyed by TWILIO_AUTH_TOKEN, of the
  public URL (SMS_WEBHOOK_BASE_URL + the path and query, or the request's own URL) followed by
  every POST parameter's name and value, sorted by name. Anything else is a 403, changing nothing.
- Tenant-safe: the church is the one whose sender number the callback names (`From` of a status
  callback, `To` of a reply); a status for another church's message id changes nothing.
- Idempotent: Twilio retries; a repeated callback moves nothing (states only go forward) and a
  repeated STOP keeps the first one's when and how.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from members.validators import E164

from . import selectors, services

logger = logging.getLogger("messaging.webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signature(url: str, params: list[tuple[str, list[str]]], token: str) -> str:
    """Twilio's X-Twilio-Signature for a POST to `url` with `params` (name, values)."""
    payload = url + "".join(name + value for name, values in sorted(params) for value in values)
    digest = hmac.new(token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def public_url(request: HttpRequest) -> str:
    base = settings.SMS_WEBHOOK_BASE_URL
    return base + request.get_full_path() if base else request.build_absolute_uri()


def _signed(request: HttpRequest) -> bool:
    given = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not given or not token:
        return False
    expected = signature(public_url(request), list(request.POST.lists()), token)
    return hmac.compare_digest(given.encode(), expected.encode())


def _forbidden() -> HttpResponse:
    return HttpResponse("forbidden: bad or missing X-Twilio-Signature\n", status=403, content_type="text/plain")


def _number(value: str) -> str:
    value = (value or "").strip()
    return value if E164.match(value) else ""


def _field(request: HttpRequest, *names: str) -> str:
    """The first of these POST fields that is set, stripped (and without NUL bytes, which no
    database text column takes)."""
    for name in names:
        value = request.POST.get(name, "").replace("\x00", "").strip()
        if value:
            return value
    return ""


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    if not _signed(request):
        return _forbidden()
    church_ids = selectors.churches_for_sender(_number(_field(request, "From")))
    sid = _field(request, "MessageSid", "SmsSid")
    status = _field(request, "MessageStatus", "SmsStatus").lower()
    if church_ids:
        services.status_apply(sid=sid, status=status, error_code=_field(request, "ErrorCode"), church_ids=church_ids)
    else:
        logger.info("status callback for %s from a number no church sends from; ignored", sid)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    if not _signed(request):
        return _forbidden()
    church_ids = selectors.churches_for_sender(_number(_field(request, "To")))
    if church_ids:
        services.inbound_apply(from_phone=_number(_field(request, "From")), church_ids=church_ids,
                               body=_field(request, "Body"))
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
