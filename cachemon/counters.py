"""Hit, miss and error counters of the cache-aside helper, per namespace.

Counts are kept in process memory and added to the cache in one pipelined round trip at
most once per `FLUSH_INTERVAL` (and when a worker exits, and before the figures are read),
so counting costs no extra round trip per request while the totals stay exact across all
workers and hosts and survive worker recycling. The same events also go to a Prometheus
counter (multiprocess mode sums it across Gunicorn workers for `/metrics`).
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time

from django.core.cache import caches
from prometheus_client import Counter

from . import keys
from .breaker import breaker

OUTCOMES = ("hits", "misses", "errors")
FLUSH_INTERVAL = 1.0
ALIAS = "default"

PROM_REQUESTS = Counter(
    "flock_cache_aside_total",
    "Cache-aside lookups by namespace and outcome (hits, misses, errors).",
    ["namespace", "outcome"],
)

_lock = threading.Lock()
_pending: collections.Counter[str] = collections.Counter()
_last_flush = time.monotonic()
_flusher_pid: int | None = None
log = logging.getLogger("cachemon")


def count(namespace: str, outcome: str) -> None:
    PROM_REQUESTS.labels(namespace, outcome).inc()
    with _lock:
        _pending[keys.metrics_field(namespace, outcome)] += 1
        due = time.monotonic() - _last_flush >= FLUSH_INTERVAL
    if due:
        flush()


def _is_redis(cache) -> bool:
    try:
        from django_redis.cache import RedisCache
    except ImportError:  # pragma: no cover - django-redis is a runtime dependency
        return False
    return isinstance(cache, RedisCache)


def flush(*, force: bool = False) -> bool:
    """Add this process's pending counts to the shared totals. False when the cache failed.

    While the breaker is open the counts stay pending (a flush must not pay the timeout the
    breaker spares requests); `force` tries anyway (worker exit, reading the totals).
    """
    global _last_flush
    if not force and breaker.is_open:
        return False
    with _lock:
        deltas = dict(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
    if not deltas:
        return True
    cache = caches[ALIAS]
    try:
        if _is_redis(cache):
            client = cache.client.get_client(write=True)
            name = cache.make_key(keys.METRICS_HASH)
            pipe = client.pipeline(transaction=False)
            for field, n in deltas.items():
                pipe.hincrby(name, field, n)
            pipe.execute()
        else:
            for field, n in deltas.items():
                key = keys.metrics_counter(field)
                cache.add(key, 0, timeout=None)
                cache.incr(key, n)
    except Exception as exc:
        # Keep the counts for the next flush; the breaker logs the outage once.
        with _lock:
            _pending.update(deltas)
        breaker.record_failure(exc)
        return False
    return True


def totals() -> dict[str, dict[str, int]]:
    """Shared totals per namespace ({ns: {hits, misses, errors}}), this process's pending included.

    Raises the cache's exception when the shared totals cannot be read.
    """
    flush(force=True)
    cache = caches[ALIAS]
    fields = [keys.metrics_field(ns, o) for ns in keys.NAMESPACES for o in OUTCOMES]
    if _is_redis(cache):
        raw = cache.client.get_client(write=False).hgetall(cache.make_key(keys.METRICS_HASH))
        values = {k.decode(): int(v) for k, v in raw.items()}
    else:
        got = cache.get_many([keys.metrics_counter(f) for f in fields])
        values = {f: int(got[keys.metrics_counter(f)]) for f in fields if keys.metrics_counter(f) in got}
    return {ns: {o: values.get(keys.metrics_field(ns, o), 0) for o in OUTCOMES} for ns in keys.NAMESPACES}


def reset() -> None:
    """Zero the shared counters (and this process's pending ones). Never touches other keys."""
    with _lock:
        _pending.clear()
    cache = caches[ALIAS]
    if _is_redis(cache):
        cache.client.get_client(write=True).delete(cache.make_key(keys.METRICS_HASH))
    else:
        cache.delete_many([keys.metrics_counter(keys.metrics_field(ns, o)) for ns in keys.NAMESPACES for o in OUTCOMES])


def start_flusher() -> None:
    """Flush every FLUSH_INTERVAL from a background thread of this process (idempotent).

    Without it a worker flushes on its next lookup after the interval, so the last second of
    counts of a worker that then stays idle waits for its next lookup (or its exit). Started
    by the Gunicorn `post_worker_init` hook (`cachemon.prometheus.on_worker_start`); not in
    tests, where a thread flushing at random moments would make exact counts racy.
    """
    global _flusher_pid
    with _lock:
        if _flusher_pid == os.getpid():  # one per process; a forked child starts its own
            return
        _flusher_pid = os.getpid()
    threading.Thread(target=_flush_loop, name="cachemon-counters", daemon=True).start()


def _flush_loop() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL)
        if _pending and time.monotonic() - _last_flush >= FLUSH_INTERVAL:
            try:
                flush()
            except Exception:  # never let the thread die; flush() keeps the counts on failure
                log.exception("cache counters: background flush failed")


def flush_at_exit() -> None:
    """For `atexit` and Gunicorn's `worker_exit`: the last counts of a process are not lost."""
    flush(force=True)


atexit.register(flush_at_exit)
