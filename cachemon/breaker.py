"""A per-process circuit breaker for the cache.

While Redis is away, every request would otherwise pay a socket timeout before falling back
to the database. After a failure the breaker opens for `CACHE_BREAKER_COOLDOWN` seconds:
requests skip the cache entirely. Then one request tries again (half-open); a success closes
it. Opening and closing are logged once each, not per request.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("cachemon")


class CircuitBreaker:
    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._is_open = False
        self.last_error = ""

    @property
    def is_open(self) -> bool:
        return self._is_open

    def allow(self) -> bool:
        """May this request talk to the cache? Closed: yes. Open: not until the cooldown ends."""
        return not self._is_open or time.monotonic() >= self._open_until

    def record_success(self) -> bool:
        """Close the breaker; returns True when this call closed it (the cache just recovered)."""
        if not self._is_open:
            return False
        with self._lock:
            if not self._is_open:
                return False
            self._is_open = False
        log.warning("cache recovered; reads use the cache again")
        return True

    def record_failure(self, exc: BaseException) -> None:
        with self._lock:
            was_open = self._is_open
            self._is_open = True
            self._open_until = time.monotonic() + self.cooldown
            self.last_error = f"{type(exc).__name__}: {exc}"
        if not was_open:
            log.error("cache unavailable, serving from the database for %ss: %s", self.cooldown, self.last_error)

    def reset(self) -> None:
        with self._lock:
            self._is_open = False
            self._open_until = 0.0
            self.last_error = ""
