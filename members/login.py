"""Logging in: throttling against password guessing, and a clear "log in again" on expiry.

Throttling, one mechanism for every login surface (the staff login, the Django admin's
login, and any view added later that calls `authenticate()`):
- Failures are counted per username and per client address (keys from `cachemon.keys`)
  from Django's `user_login_failed` signal, which `authenticate()` sends whoever called it.
- At `LOGIN_FAILURE_LIMIT` failures for a username (or `LOGIN_FAILURE_LIMIT_PER_IP` for an
  address) within `LOGIN_FAILURE_WINDOW` seconds, the account (or address) is locked out
  for the next window, even for the right password (otherwise the lockout would not slow a
  guesser): the authentication backend (`members.auth`) refuses before checking any
  password, so no surface can forget the check.
- The username is counted as authentication will use it: `throttle_username` strips it and
  applies the user model's NFKC normalisation (what `AuthenticationForm` does before the
  backend looks the account up), then casefolds it, so look-alikes ("ｈope", " Hope",
  "HOPE") share the account's counter.
- Pages: forms built on `ThrottledFormMixin` say "too many failed login attempts, try again
  in N minutes" instead of "wrong password", and `LoginThrottleStatusMiddleware` answers
  such a refusal with 429 and `Retry-After`, whichever view rendered it.
- A successful login (`user_logged_in`) clears the username's count. The address count is
  left to expire: an attacker holding one valid account must not be able to wash away its
  address's failures.

When the cache is down the throttle fails open (logins keep working from the database);
every skipped check is logged and counted in `flock_login_throttle_errors_total`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import unicodedata
from urllib.parse import urlparse

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from prometheus_client import Counter

from cachemon import keys
from cachemon.cache_aside import breaker
from cachemon.services import window_count

log = logging.getLogger("members.login")

ALIAS = "default"
PROM_THROTTLED = Counter("flock_login_throttled_total", "Login attempts refused by the throttle (429).")
PROM_FAILURES = Counter("flock_login_failures_total", "Failed login attempts (wrong username or password).")
PROM_ERRORS = Counter(
    "flock_login_throttle_errors_total", "Throttle checks skipped because the cache failed (failing open)."
)
SESSION_EXPIRED_MESSAGE = "Your session has expired. Please log in again."


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind our proxy (a peer in TRUSTED_PROXIES: loopback by default,
    the balancer's address on separate machines), the X-Forwarded-For hop that proxy appended."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and _is_trusted_proxy(remote):
        # The rightmost entry is the one our proxy appended; the others are client-supplied.
        return forwarded.split(",")[-1].strip() or remote
    return remote


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def throttle_username(username: object) -> str:
    """The username as authentication will look it up, casefolded: the throttle's counter name.

    `AuthenticationForm` strips the typed name and NFKC-normalises it (`UsernameField`, the
    user model's `normalize_username`) before `ModelBackend` looks the account up; the same
    steps here, then casefold (and NFKC again, as casefolding can denormalise), make every
    look-alike that could reach the account count against it.
    """
    if not isinstance(username, str):
        return ""
    normalized = get_user_model().normalize_username(username.strip()).strip()
    return unicodedata.normalize("NFKC", normalized.casefold())


def _subjects(*, username: object, ip: str | None) -> list[tuple[str, str, int]]:
    subjects = [("ip", ip, settings.LOGIN_FAILURE_LIMIT_PER_IP)] if ip else []
    name = throttle_username(username)
    if name:
        subjects.append(("user", name, settings.LOGIN_FAILURE_LIMIT))
    return subjects


def _cache_failed(exc: BaseException, action: str) -> None:
    PROM_ERRORS.inc()
    breaker.record_failure(exc)
    log.warning("login throttle %s skipped, cache unavailable (failing open): %s", action, exc)


def _cache_usable(action: str) -> bool:
    if breaker.allow():
        return True
    PROM_ERRORS.inc()
    log.warning("login throttle %s skipped, cache breaker open (failing open)", action)
    return False


def login_lockout_remaining(*, username: object, ip: str | None) -> int:
    """Seconds until this username and address may try again (0: not locked out)."""
    if not _cache_usable("check"):
        return 0
    lock_keys = [keys.login_lockout(kind, value) for kind, value, _ in _subjects(username=username, ip=ip)]
    if not lock_keys:
        return 0
    try:
        found = caches[ALIAS].get_many(lock_keys)
    except Exception as exc:
        _cache_failed(exc, "check")
        return 0
    breaker.record_success()  # this may have been the breaker's one trial request
    now = time.time()
    return max([math.ceil(until - now) for until in found.values() if until > now], default=0)


def login_failure_record(*, username: object, ip: str | None) -> None:
    """Count a failed attempt; the one that reaches a limit starts the lockout."""
    PROM_FAILURES.inc()
    if not _cache_usable("count"):
        return
    cache = caches[ALIAS]
    window = settings.LOGIN_FAILURE_WINDOW
    try:
        for kind, value, limit in _subjects(username=username, ip=ip):
            key = keys.login_failures(kind, value)
            failures = window_count(key=key, window=window)  # concurrent guesses all count
            if failures >= limit:
                cache.set(keys.login_lockout(kind, value), time.time() + window, timeout=window)
                cache.delete(key)
                log.warning("login locked out for %ss after %s failures (%s)", window, failures, kind)
    except Exception as exc:
        _cache_failed(exc, "count")


def login_success_reset(*, username: object) -> None:
    """A successful login forgets the username's failures (the address's count expires by itself)."""
    value = throttle_username(username)
    if not value or not _cache_usable("reset"):
        return
    try:
        caches[ALIAS].delete_many([keys.login_failures("user", value), keys.login_lockout("user", value)])
    except Exception as exc:
        _cache_failed(exc, "reset")


# --- The pieces every login surface shares ----------------------------------------------

def _request_ip(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


def lockout_check(request: HttpRequest | None, username: object) -> int:
    """Seconds this login attempt must wait (0: go ahead); a refusal is noted on the request
    (`login_locked_for`) so that the answer becomes a 429 (LoginThrottleStatusMiddleware)."""
    remaining = login_lockout_remaining(username=username, ip=_request_ip(request))
    if remaining and request is not None:
        request.login_locked_for = remaining
    return remaining


@receiver(user_login_failed)
def _count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None and getattr(request, "login_locked_for", 0):
        return  # refused by the throttle, not a password tried: it must not extend the lockout
    username = credentials.get(get_user_model().USERNAME_FIELD, credentials.get("username", ""))
    login_failure_record(username=username, ip=_request_ip(request))


@receiver(user_logged_in)
def _reset_on_success(sender, request: HttpRequest | None, user, **kwargs) -> None:
    login_success_reset(username=user.get_username())


class ThrottledFormMixin:
    """For `AuthenticationForm` subclasses: a locked-out attempt is refused with "too many
    failed login attempts, try again in N minutes" before any password is checked, and the
    attempt that reaches the limit says so too (rather than "wrong password")."""

    LOCKED_MESSAGE = "Too many failed login attempts. Try again in %(minutes)s minute%(plural)s."
    locked_minutes = 0

    def clean(self):
        username = self.data.get("username", "")  # AuthenticationForm's field, whatever USERNAME_FIELD is
        remaining = lockout_check(self.request, username)
        if not remaining:
            try:
                return super().clean()
            except ValidationError:
                remaining = lockout_check(self.request, username)  # this failure may have reached the limit
                if not remaining:
                    raise
        self.locked_minutes = max(1, math.ceil(remaining / 60))
        raise ValidationError(self.LOCKED_MESSAGE, code="throttled",
                              params={"minutes": self.locked_minutes, "plural": "s" if self.locked_minutes != 1 else ""})


class ThrottledAuthenticationForm(ThrottledFormMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledFormMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView with the throttled form (the staff login, /accounts/login/)."""

    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm


class LoginThrottleStatusMiddleware:
    """A login page re-rendered because the throttle refused the attempt answers 429 with
    `Retry-After`, whichever login view rendered it (redirects are left alone)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        remaining = getattr(request, "login_locked_for", 0)
        if remaining and response.status_code == 200:
            PROM_THROTTLED.inc()
            response.status_code = 429
            response.reason_phrase = "Too Many Requests"
            response["Retry-After"] = str(remaining)
        return response


class SessionExpiredMiddleware:
    """A request whose session cookie names no live session (expired, or invalid) and that is
    sent to the login page gets "Your session has expired. Please log in again." there."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code in (301, 302)
            and request.COOKIES.get(settings.SESSION_COOKIE_NAME)
            and hasattr(request, "session")
            and urlparse(response.get("Location", "")).path == resolve_url(settings.LOGIN_URL)
        ):
            session = request.session
            session.get("_probe")  # load it: a cookie without a live session loses its key
            # A flushed session (logging out) is modified; an expired one is simply not found.
            if session.session_key is None and not session.modified:
                messages.info(request, SESSION_EXPIRED_MESSAGE)
        return response
