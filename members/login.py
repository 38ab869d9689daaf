"""Logging in: throttling against password guessing, and a clear "log in again" on expiry.

Throttling: failed logins are counted in the cache per username and per client address
(keys from `cachemon.keys`). At `LOGIN_FAILURE_LIMIT` failures for a username (or
`LOGIN_FAILURE_LIMIT_PER_IP` for an address) within `LOGIN_FAILURE_WINDOW` seconds, the
login form answers 429 "too many failed login attempts, try again in N minutes" for the
next window, even for the right password (otherwise the lockout would not slow a guesser).
A successful login clears the username's count. The address count is left to expire: an
attacker holding one valid account must not be able to wash away its address's failures.

When the cache is down the throttle fails open (logins keep working from the database);
every skipped check is logged and counted in `flock_login_throttle_errors_total`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from urllib.parse import urlparse

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
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


def _subjects(*, username: str, ip: str) -> list[tuple[str, str, int]]:
    subjects = [("ip", ip, settings.LOGIN_FAILURE_LIMIT_PER_IP)]
    if username:
        subjects.append(("user", username.strip().casefold(), settings.LOGIN_FAILURE_LIMIT))
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


def login_lockout_remaining(*, username: str, ip: str) -> int:
    """Seconds until this username and address may try again (0: not locked out)."""
    if not _cache_usable("check"):
        return 0
    lock_keys = [keys.login_lockout(kind, value) for kind, value, _ in _subjects(username=username, ip=ip)]
    try:
        found = caches[ALIAS].get_many(lock_keys)
    except Exception as exc:
        _cache_failed(exc, "check")
        return 0
    breaker.record_success()  # this may have been the breaker's one trial request
    now = time.time()
    return max([math.ceil(until - now) for until in found.values() if until > now], default=0)


def login_failure_record(*, username: str, ip: str) -> None:
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


def login_success_reset(*, username: str) -> None:
    """A successful login forgets the username's failures (the address's count expires by itself)."""
    if not _cache_usable("reset"):
        return
    value = username.strip().casefold()
    try:
        caches[ALIAS].delete_many([keys.login_failures("user", value), keys.login_lockout("user", value)])
    except Exception as exc:
        _cache_failed(exc, "reset")


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView with the throttle in front of the password check."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        remaining = login_lockout_remaining(username=request.POST.get("username", ""), ip=client_ip(request))
        if remaining:
            return self._locked_out(remaining)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        login_success_reset(username=form.get_user().get_username())
        return super().form_valid(form)

    def form_invalid(self, form) -> HttpResponse:
        username = self.request.POST.get("username", "")
        ip = client_ip(self.request)
        login_failure_record(username=username, ip=ip)
        remaining = login_lockout_remaining(username=username, ip=ip)
        if remaining:
            return self._locked_out(remaining)
        return super().form_invalid(form)

    def _locked_out(self, remaining: int) -> HttpResponse:
        PROM_THROTTLED.inc()
        # An unbound form: validating it would check the password, which is what we refuse.
        form = self.get_form_class()(request=self.request, initial={"username": self.request.POST.get("username", "")})
        ctx = self.get_context_data(form=form, locked_minutes=max(1, math.ceil(remaining / 60)))
        response = self.render_to_response(ctx, status=429)
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
