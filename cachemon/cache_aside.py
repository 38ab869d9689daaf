"""The cache-aside helper (the seed's `getCachedWithFallback(key, fetch, ttl)`), done right.

    summary = cached(keys.STATS, church_id=church.id, parts=("summary",), fetch=compute, ttl=keys.TTL_SHORT)
    invalidate(keys.STATS, keys.MEMBERS, church_id=church.id)   # in the service that wrote

Guarantees:
- Tenant: every key carries the church (or the user, for logins), built in `cachemon.keys`.
- No stale read after a write, from any worker: `invalidate` bumps the namespace's
  generation in `transaction.on_commit` (a rolled-back write leaves the cache alone). A read
  fetches the generation and the entry in ONE round trip (get_many) *before* it reads the
  database, and stores `(generation, value)`; an entry only counts while its generation is
  the current one. So a read that raced a write stores its old value tagged with a generation
  that is already out of date, and nobody is served it (the classic cache-aside race is closed
  by construction). Bulk writes bump once: O(1) cache calls.
- Stampede: one request computes a missing key under a lock with a TTL; the others re-read
  (and the lock holder re-reads once it has the lock, so a value stored just before counts).
  A dead holder blocks nobody longer than `keys.LOCK_TTL`.
- Redis slow or gone: `fetch()` answers, the error is counted, the breaker stops every
  request from paying a timeout (one trial request per cooldown), and it recovers by
  itself. An invalidation that could not be delivered is retried before this process reads
  the cache again; for a user (whose cached session hash ends sessions) it also raises the
  distrust watermark, so that no other process believes the old entry (cachemon.distrust).
- Nothing is stored for a row that does not exist: a `fetch()` answering None (an unknown
  id, another church's id) is returned but never cached, so requests for made-up ids cannot
  fill the cache (they cost the query they would cost with the cache off).
- `CACHE_ASIDE=off` (settings.CACHE_ASIDE False): reads go straight to `fetch`, nothing is
  read or stored. Invalidations are still sent, so the switch can be turned back on safely.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

from . import counters, distrust, keys
from .breaker import breaker

T = TypeVar("T")
ALIAS = "default"
_MISSING = object()

__all__ = ["breaker", "cached", "cached_user", "invalidate", "invalidate_user"]

# Generation bumps that failed while the cache was away: (namespace, scope).
_pending_bumps: set[tuple[str, str]] = set()
_pending_lock = threading.Lock()


def cached(namespace: str, *, church_id: int, parts: tuple = (), fetch: Callable[[], T], ttl: int) -> T:
    """Return the church's cached value for (namespace, parts), computing it with `fetch` on a miss."""
    return _cached(namespace, keys.church_scope(church_id), parts, fetch, ttl)


def cached_user(user_id: int, fetch: Callable[[], T], ttl: int = keys.TTL_MEDIUM,
                accept: Callable[[T], bool] | None = None) -> T:
    """The logged-in user, so that a warm page runs no SQL; invalidated by `invalidate_user`.
    `accept(value)`: False makes a found entry count as a miss (refetched and stored again):
    members.auth refuses entries older than the distrust watermark (cachemon.distrust)."""
    return _cached(keys.USERS, keys.user_scope(user_id), ("user",), fetch, ttl, accept=accept)


def invalidate(*namespaces: str, church_id: int) -> None:
    """Make the church's entries in `namespaces` unreadable once the current transaction commits."""
    scope = keys.church_scope(church_id)
    _on_commit([(ns, scope) for ns in namespaces])


def invalidate_user(user_id: int) -> None:
    _on_commit([(keys.USERS, keys.user_scope(user_id))])


def _on_commit(targets: list[tuple[str, str]]) -> None:
    transaction.on_commit(lambda: _bump(targets))


def _cached(namespace: str, scope: str, parts: tuple, fetch: Callable[[], T], ttl: int,
            accept: Callable[[T], bool] | None = None) -> T:
    if not settings.CACHE_ASIDE:
        return fetch()
    if not breaker.allow():
        counters.count(namespace, "errors")
        return fetch()
    cache = caches[ALIAS]
    gen_key = keys.generation(namespace, scope)
    key = keys.data(namespace, scope, *parts)
    try:
        _retry_pending_bumps(cache)
        got = cache.get_many([gen_key, key])
        gen = got.get(gen_key)
        if gen is None:
            gen = _new_generation(cache, gen_key)
    except Exception as exc:
        return _fallback(namespace, exc, fetch)
    # Pending bumps were delivered above, before the read, so a recovery needs nothing more.
    breaker.record_success()
    value = _current(got.get(key), gen, accept)
    if value is not _MISSING:
        counters.count(namespace, "hits")
        return value
    counters.count(namespace, "misses")
    return _fill(cache, namespace, key, int(gen), fetch, ttl, accept)


def _current(entry, gen, accept: Callable[[T], bool] | None = None) -> object:
    """The value of a stored `(generation, value)` entry while its generation is current (and
    `accept` takes it)."""
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == int(gen):
        if accept is None or accept(entry[1]):
            return entry[1]
    return _MISSING


def _fallback(namespace: str, exc: Exception, fetch: Callable[[], T]) -> T:
    breaker.record_failure(exc)
    counters.count(namespace, "errors")
    return fetch()


def _new_generation(cache, gen_key: str) -> int:
    # A generation that was lost (flush, restart, eviction) restarts from the clock in
    # microseconds, above any value the lost one reached, so no old entry can match it.
    seed = time.time_ns() // 1000
    return seed if cache.add(gen_key, seed, timeout=None) else int(cache.get(gen_key, seed))


def _fill(cache, namespace: str, key: str, gen: int, fetch: Callable[[], T], ttl: int,
          accept: Callable[[T], bool] | None = None) -> T:
    """Compute a missing value once across all workers: the lock holder fetches, others re-read."""
    lock_key = keys.lock(key, gen)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + keys.LOCK_TTL
    pause = 0.005
    try:
        while True:
            if cache.add(lock_key, token, timeout=keys.LOCK_TTL):
                break
            if time.monotonic() >= deadline:
                # The holder is far slower than it should be: answer from the database.
                return fetch()
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
            value = _current(cache.get(key), gen, accept)
            if value is not _MISSING:
                return value
            # No value and, at the next add(), maybe no lock: the holder failed or died; take over.
    except Exception as exc:
        return _fallback(namespace, exc, fetch)
    try:
        try:
            # The previous holder may have stored the value between our miss and our lock:
            # re-reading here is what makes "one fetch per missing key" exact.
            value = _current(cache.get(key), gen, accept)
        except Exception as exc:
            return _fallback(namespace, exc, fetch)
        if value is not _MISSING:
            return value
        value = fetch()
        if value is None:
            return value  # nothing there: an entry per made-up id would fill the cache
        try:
            cache.set(key, (gen, value), timeout=ttl)
        except Exception as exc:
            breaker.record_failure(exc)
            counters.count(namespace, "errors")
        return value
    finally:
        _release(cache, lock_key, token)


def _release(cache, lock_key: str, token: str) -> None:
    try:
        # Only our own lock: if ours expired and another request took it, leave theirs alone.
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
    except Exception as exc:
        breaker.record_failure(exc)


def _bump(targets: list[tuple[str, str]]) -> None:
    cache = caches[ALIAS]
    for namespace, scope in targets:
        try:
            _bump_one(cache, namespace, scope)
        except Exception as exc:
            breaker.record_failure(exc)
            with _pending_lock:
                _pending_bumps.add((namespace, scope))
            if namespace == keys.USERS:
                # Other processes would go on reading the user as it was (its session
                # hash: a changed password must end the old sessions everywhere).
                distrust.record("user invalidation")


def _bump_one(cache, namespace: str, scope: str) -> None:
    gen_key = keys.generation(namespace, scope)
    try:
        cache.incr(gen_key)
    except ValueError:
        # No generation yet (or it was lost): any fresh clock value differs from old ones.
        cache.set(gen_key, time.time_ns() // 1000, timeout=None)


def _retry_pending_bumps(cache) -> None:
    if not _pending_bumps:
        return
    with _pending_lock:
        targets = list(_pending_bumps)
        _pending_bumps.clear()
    for namespace, scope in targets:
        try:
            _bump_one(cache, namespace, scope)
        except Exception:
            with _pending_lock:
                _pending_bumps.add((namespace, scope))
            raise
