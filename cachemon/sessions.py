"""Sessions in Redis in front of the database (`cached_db`), behind the cache's circuit breaker.

Plain `cached_db` with a slow or unreachable Redis pays the socket timeout on every session
read and write. Here, while the breaker is open, session reads go straight to the database and
cache writes are skipped, so logging in and every page keep working at database speed; the
breaker's trial request (one per cooldown) finds out when Redis is back.
"""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from .breaker import breaker

_MISSING = object()


class _GuardedCache:
    """The few cache calls `cached_db` makes, each one skipped while the breaker is open and
    recorded as a failure when it raises (a failed read is a miss; the database answers)."""

    def __init__(self, cache) -> None:
        self._cache = cache

    def _call(self, method: str, *args, default=None):
        if not breaker.allow():
            return default
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as exc:
            breaker.record_failure(exc)
            return default
        breaker.record_success()
        return result

    def get(self, key):
        return self._call("get", key)

    def set(self, key, value, timeout):
        self._call("set", key, value, timeout)

    def delete(self, key):
        self._call("delete", key)

    def __contains__(self, key) -> bool:
        return bool(self._call("has_key", key, default=False))


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _GuardedCache(self._cache)
