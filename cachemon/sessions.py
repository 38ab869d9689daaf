"""Sessions in Redis in front of the database (`cached_db`), behind the cache's circuit breaker.

Plain `cached_db` with a slow or unreachable Redis pays the socket timeout on every session
read and write. Here, while the breaker is open, session reads go straight to the database and
cache writes are skipped, so logging in and every page keep working at database speed; the
breaker's trial request (one per cooldown) finds out when Redis is back.

A logout is for good whatever Redis did: a session delete or save that failed (or that the
breaker skipped) raises the distrust watermark in the database (`cachemon.distrust`), and a
cached session stamped before it is read from the database again (where a logged-out session
no longer is). Cached sessions carry their stamp under `STAMP`, which the store removes again.
"""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from . import distrust
from .breaker import breaker

STAMP = "_flock_cached_at"
_FAILED = object()


class _GuardedCache:
    """The few cache calls `cached_db` makes, each one skipped while the breaker is open and
    recorded as a failure when it raises (a failed read is a miss; the database answers). A
    write or delete that did not happen raises the distrust watermark."""

    def __init__(self, cache) -> None:
        self._cache = cache

    def _call(self, method: str, *args, default=None):
        if not breaker.allow():
            return _FAILED if default is _FAILED else default
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as exc:
            breaker.record_failure(exc)
            return default
        breaker.record_success()
        return result

    def get(self, key):
        entry = self._call("get", key)
        if not isinstance(entry, dict):
            return None
        data = dict(entry)
        if not distrust.trusted(data.pop(STAMP, None)):
            self._call("delete", key)  # written before a lost write: the database decides
            return None
        return data

    def set(self, key, value, timeout, *, cached_at: float | None = None):
        entry = {**value, STAMP: distrust.stamp() if cached_at is None else cached_at}
        if self._call("set", key, entry, timeout, default=_FAILED) is _FAILED:
            distrust.record("session save")

    def delete(self, key):
        if self._call("delete", key, default=_FAILED) is _FAILED:
            distrust.record("session delete")

    def __contains__(self, key) -> bool:
        return bool(self._call("has_key", key, default=False))


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _GuardedCache(self._cache)

    def load(self):
        # cached_db.load, with the stamp taken before the database read (cachemon.distrust).
        data = self._cache.get(self.cache_key)
        if data is None:
            cached_at = distrust.stamp()
            s = self._get_session_from_db()
            if s:
                data = self.decode(s.session_data)
                self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date), cached_at=cached_at)
            else:
                data = {}
        return data
