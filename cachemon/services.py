"""Writes of the cache monitor: resetting the counters, counting admin API requests."""

from __future__ import annotations

import time

from django.core.cache import caches

from . import counters, keys
from .breaker import breaker

ALIAS = "default"


def cache_counters_reset() -> None:
    """Zero the shared hit/miss/error counters (and this process's pending ones).

    Deletes the counter keys only: never a flush of a database that also holds sessions or
    data. Prometheus counters are not touched (they only ever increase; rate() handles it).
    """
    counters.reset()


def window_count(*, key: str, window: int) -> int:
    """Add one to the counter at `key`, which lives `window` seconds from its first count, and
    return it. add + incr are atomic in Redis and in the embedded cache, so concurrent requests
    on every worker all count. Cache errors propagate: the caller decides whether to fail open.
    """
    cache = caches[ALIAS]
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this count starts a new window
        cache.set(key, 1, timeout=window)
        return 1


def rate_limit_hit(*, scope: str, user_id: int, limit: int, window: int = 60) -> int | None:
    """Count one request of `user_id` to `scope`; the seconds to wait when over `limit`, else None.

    A fixed window counter in the shared cache (one add + one incr), so the limit holds across
    all workers. When the cache is away the limit is not enforced: the endpoints it guards are
    for platform admins, and locking them out would hide the outage they are meant to show.
    """
    now = int(time.time())
    window_start = now - now % window
    if breaker.is_open:
        return None
    try:
        used = window_count(key=keys.rate_limit(scope, user_id, window_start), window=window + 5)
    except Exception as exc:
        breaker.record_failure(exc)
        return None
    if used > limit:
        return max(1, window_start + window - now)
    return None
