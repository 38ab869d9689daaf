"""Twilio's REST API (`SMS_BACKEND=twilio`), spoken directly over HTTP.

    POST {TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json   To, From, Body, StatusCallback
    GET  {TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages.json?To=..&From=..   (newest first)

Basic auth with the account sid and auth token. Not the `twilio` package: it hides the
`Retry-After` header of a 429 and cannot be pointed at another base URL (the tests' fake).

Reconciliation lists the messages from `From` to `To` newest first and stops at `since`; it does
not filter on `DateSent`, which Twilio leaves empty while a message waits in its own queue:
such a message would be missed, and sent again.
"""

from __future__ import annotations

import datetime
import email.utils
import threading
import time

import requests
from django.conf import settings

from .base import BaseBackend, PermanentError, SendResult, TemporaryError, UnknownOutcome

# Twilio's error codes staff may meet, in words (https://www.twilio.com/docs/api/errors).
REASONS = {
    "21211": "The phone number is not a valid number.",
    "21408": "Texting this country is not enabled for the account.",
    "21610": "The person has unsubscribed (replied STOP to this number).",
    "21612": "The number cannot be reached from this sender number.",
    "21614": "The number is not a mobile number.",
    "30003": "The phone is switched off or unreachable.",
    "30004": "The person's carrier blocked the message.",
    "30005": "The number is unknown or no longer in service.",
    "30006": "The number is a landline or cannot receive texts.",
    "30007": "The carrier filtered the message as spam.",
    "30008": "The carrier could not deliver the message (unknown error).",
}
# Refused because of the account, not the text: worth trying again once an operator fixes it.
ACCOUNT_STATUSES = (401, 403)
MAX_LIST_PAGES = 5


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive HTTP session per thread: a send reuses the open connection (a new TCP (and,
    with Twilio, TLS) connection per text was most of the client's cost)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def reason_for(code: str, fallback: str = "") -> str:
    return REASONS.get(str(code), fallback or f"The provider refused the text (error {code}).")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _error(response: requests.Response) -> tuple[str, str]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    code = str(data.get("code") or "") if isinstance(data, dict) else ""
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    return code, message or f"HTTP {response.status_code}"


class TwilioBackend(BaseBackend):
    def __init__(self) -> None:
        self.auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        self.url = f"{settings.TWILIO_API_BASE}/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json"
        self.timeout = (min(3.0, settings.SMS_PROVIDER_TIMEOUT), settings.SMS_PROVIDER_TIMEOUT)

    def send(self, *, to: str, from_: str, body: str, status_callback: str = "") -> SendResult:
        data = {"To": to, "From": from_, "Body": body}
        if status_callback:
            data["StatusCallback"] = status_callback
        started = time.monotonic()
        try:
            response = _session().post(self.url, data=data, auth=self.auth, timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            raise TemporaryError(f"The provider did not answer the connection: {exc}", code="connect") from exc
        except requests.ConnectionError as exc:
            elapsed = (time.monotonic() - started) * 1000
            if _never_connected(exc):
                raise TemporaryError(f"The provider could not be reached: {exc}", code="connect",
                                     elapsed_ms=elapsed) from exc
            raise UnknownOutcome(f"The connection to the provider broke before it answered: {exc}",
                                 code="connection", elapsed_ms=elapsed) from exc
        except requests.Timeout as exc:
            raise UnknownOutcome(f"The provider did not answer within {self.timeout[1]:g}s.", code="timeout",
                                 elapsed_ms=(time.monotonic() - started) * 1000) from exc
        elapsed = (time.monotonic() - started) * 1000
        if response.status_code in (200, 201):
            try:
                sid = str(response.json()["sid"])
            except (ValueError, KeyError, TypeError) as exc:
                raise UnknownOutcome("The provider accepted the request but sent no message id.",
                                     code="no-sid", elapsed_ms=elapsed) from exc
            return SendResult(sid=sid, elapsed_ms=elapsed)
        code, message = _error(response)
        if response.status_code == 429:
            raise TemporaryError(f"The provider is throttling texts: {message}", code=code or "429",
                                 elapsed_ms=elapsed, retry_after=_retry_after(response))
        if response.status_code == 503:
            raise TemporaryError(f"The provider is unavailable: {message}", code=code or "503",
                                 elapsed_ms=elapsed, retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise UnknownOutcome(f"The provider failed ({response.status_code}): {message}",
                                 code=code or str(response.status_code), elapsed_ms=elapsed)
        if response.status_code in ACCOUNT_STATUSES:
            raise TemporaryError(f"The provider refused the account's credentials: {message}",
                                 code=code or str(response.status_code), elapsed_ms=elapsed)
        raise PermanentError(reason_for(code, message), code=code or str(response.status_code), elapsed_ms=elapsed)

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime.datetime) -> str | None:
        url, params = self.url, {"To": to, "From": from_, "PageSize": 50}
        for _ in range(MAX_LIST_PAGES):
            try:
                response = _session().get(url, params=params, auth=self.auth, timeout=self.timeout)
            except requests.RequestException as exc:
                raise TemporaryError(f"The provider's message list could not be read: {exc}", code="list") from exc
            if response.status_code != 200:
                code, message = _error(response)
                raise TemporaryError(f"The provider's message list could not be read: {message}",
                                     code=code or str(response.status_code), retry_after=_retry_after(response))
            page = response.json()
            for item in page.get("messages", []):
                created = _parse_date(item.get("date_created"))
                if created is not None and created < since:
                    return None  # newest first: everything further is older
                if item.get("body") == body and item.get("to") == to:
                    return str(item["sid"])
            next_uri = page.get("next_page_uri")
            if not next_uri:
                return None
            url, params = settings.TWILIO_API_BASE + next_uri, None
        return None


def _never_connected(exc: requests.ConnectionError) -> bool:
    # urllib3 raises NewConnectionError (refused, no route, DNS) before any byte is sent.
    from urllib3.exceptions import NewConnectionError

    seen, current = set(), exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.args[0] if current.args and isinstance(current.args[0], BaseException) else current.__cause__)
    return False


def _parse_date(value: object) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
