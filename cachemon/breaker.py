"""A per-process circuit breaker for the cache.

While Redis is away, every request would otherwise pay a socket timeout before falling back
to the database. After a failure the breaker opens for `CACHE_BREAKER_COOLDOWN` seconds:
requests skip the cache entirely. Then exactly one request tries again (half-open; the others
keep skipping while it does); a success closes the breaker, a failure opens it for another
cooldown. Opening and closing are logged once each, not per request.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger("cachemon")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(self, cooldown: float | None = None) -> None:
        # None: follow settings.CACHE_BREAKER_COOLDOWN, read at each failure (override_settings works).
        self._cooldown = cooldown
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._is_open = False
        self.last_error = ""
        self.opened_at: float | None = None  # wall clock, for the admin page

    @property
    def cooldown(self) -> float:
        if self._cooldown is not None:
            return self._cooldown
        return float(getattr(settings, "CACHE_BREAKER_COOLDOWN", 5.0))

    @cooldown.setter
    def cooldown(self, seconds: float | None) -> None:
        self._cooldown = seconds

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def state(self) -> str:
        if not self._is_open:
            return CLOSED
        return OPEN if time.monotonic() < self._open_until else HALF_OPEN

    def allow(self) -> bool:
        """May this request talk to the cache? Closed: yes. Open: one trial per cooldown."""
        if not self._is_open:
            return True
        now = time.monotonic()
        with self._lock:
            if not self._is_open:
                return True
            if now < self._open_until:
                return False
            # This request is the trial; the others keep skipping until it has answered
            # (record_success closes, record_failure re-opens) or another cooldown passed.
            self._open_until = now + self.cooldown
            return True

    def record_success(self) -> bool:
        """Close the breaker; returns True when this call closed it (the cache just recovered)."""
        if not self._is_open:
            return False
        with self._lock:
            if not self._is_open:
                return False
            self._is_open = False
            self.opened_at = None
        log.warning("cache recovered; reads use the cache again")
        return True

    def record_failure(self, exc: BaseException) -> None:
        with self._lock:
            was_open = self._is_open
            self._is_open = True
            self._open_until = time.monotonic() + self.cooldown
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not was_open:
                self.opened_at = time.time()
        if not was_open:
            log.error("cache unavailable, serving from the database for %ss: %s", self.cooldown, self.last_error)

    def snapshot(self) -> dict:
        """State for the metrics endpoint and the admin page."""
        return {
            "state": self.state,
            "cooldown_seconds": self.cooldown,
            "last_error": self.last_error,
            "opened_at": self.opened_at,
        }

    def reset(self) -> None:
        with self._lock:
            self._is_open = False
            self._open_until = 0.0
            self.last_error = ""
            self.opened_at = None


# One per process, shared by the cache-aside helper and the counters (which must not pay a
# timeout per flush while the cache is away either). `cache_aside.breaker` is this object.
breaker = CircuitBreaker()
