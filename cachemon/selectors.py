"""Reads of the cache monitor: counter totals with hit ratios, backend figures, health probes.

Every probe here talks to the cache directly (never through the breaker): a health check
must tell the truth about the cache even while the breaker spares the requests.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction

from . import counters, keys
from .breaker import breaker

log = logging.getLogger("cachemon")
ALIAS = "default"
# The Redis INFO fields the metrics endpoint and the admin page show.
REDIS_FIELDS = (
    "redis_version",
    "used_memory",
    "used_memory_human",
    "maxmemory",
    "maxmemory_policy",
    "connected_clients",
    "evicted_keys",
    "expired_keys",
    "keyspace_hits",
    "keyspace_misses",
    "instantaneous_ops_per_sec",
    "uptime_in_seconds",
)
DB_TIMEOUT_MS = 2000


def _is_redis(cache) -> bool:
    return counters._is_redis(cache)


def _is_disk(cache) -> bool:
    return type(cache).__module__.startswith("diskcache")


def cache_backend_name(*, alias: str = ALIAS) -> str:
    cache = caches[alias]
    if _is_redis(cache):
        return "redis"
    if _is_disk(cache):
        return "diskcache"
    return type(cache).__name__


def _ratio(hits: int, misses: int) -> float | None:
    lookups = hits + misses
    return round(hits / lookups, 4) if lookups else None


def _with_ratio(figures: dict[str, int]) -> dict:
    return {**figures, "hit_ratio": _ratio(figures["hits"], figures["misses"])}


def cache_totals_get() -> dict:
    """Per-namespace and total hits/misses/errors with hit ratios, summed over all processes.

    Raises the cache's exception when the shared counters cannot be read.
    """
    per_ns = counters.totals()
    total = {o: sum(per_ns[ns][o] for ns in per_ns) for o in counters.OUTCOMES}
    return {
        "total": _with_ratio(total),
        "namespaces": {ns: _with_ratio(figures) for ns, figures in per_ns.items()},
    }


def redis_info_get(*, alias: str = ALIAS) -> dict:
    """The Redis INFO figures worth watching; {"error": ...} when Redis does not answer."""
    cache = caches[alias]
    try:
        info = cache.client.get_client(write=False).info()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    figures = {field: info.get(field) for field in REDIS_FIELDS}
    hits, misses = info.get("keyspace_hits", 0), info.get("keyspace_misses", 0)
    figures["keyspace_hit_ratio"] = _ratio(hits, misses)
    return figures


def disk_info_get(*, alias: str = ALIAS) -> dict:
    """What the embedded cache (diskcache) can tell cheaply: entries and bytes on disk."""
    cache = caches[alias]
    try:
        fanout = cache._cache  # diskcache.FanoutCache; its counts are kept in metadata, O(1)
        return {
            "directory": str(fanout.directory),
            "entries": len(fanout),
            "volume_bytes": fanout.volume(),
            # Each shard gets its share of the configured limit: the whole cache's is the sum.
            "size_limit_bytes": int(fanout.size_limit) * len(fanout._shards),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def cache_metrics_get() -> dict:
    """Everything `/api/admin/cache/metrics` answers. Raises when the counters cannot be read."""
    cache = caches[ALIAS]
    data = {
        "backend": cache_backend_name(),
        "cache_aside": bool(settings.CACHE_ASIDE),
        "breaker": breaker.snapshot(),
        **cache_totals_get(),
        "redis": None,
        "embedded": None,
    }
    if _is_redis(cache):
        data["redis"] = redis_info_get()
    elif _is_disk(cache):
        data["embedded"] = disk_info_get()
    return data


def cache_health_get(*, alias: str = ALIAS) -> dict:
    """One round trip to the cache: PING on Redis, set+get elsewhere. Short socket timeouts.

    {"status": "ok", "latency_ms": ...} or {"status": "error", "error": ...}.
    """
    cache = caches[alias]
    started = time.perf_counter()
    try:
        if _is_redis(cache):
            cache.client.get_client(write=True).ping()
        else:
            key = keys.health_probe(f"{socket.gethostname()}:{os.getpid()}")
            token = uuid.uuid4().hex
            cache.set(key, token, timeout=30)
            if cache.get(key) != token:
                raise RuntimeError("the cache did not return the value just written")
    except Exception as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


def database_health_get() -> dict:
    """SELECT 1, with a statement timeout on PostgreSQL (the connect timeout is in settings)."""
    started = time.perf_counter()
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {int(DB_TIMEOUT_MS)}")
                    cursor.execute("SELECT 1")
                    cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


def readiness_get() -> dict:
    """{"database": "ok"|"error", "cache": "ok"|"error", "failed": [...]}; errors are logged."""
    checks = {"database": database_health_get(), "cache": cache_health_get()}
    failed = [name for name, result in checks.items() if result["status"] != "ok"]
    for name in failed:
        # Details go to the log only: /readyz is public and must not describe the internals.
        log.error("readiness: %s failed: %s", name, checks[name]["error"])
    return {**{name: result["status"] for name, result in checks.items()}, "failed": failed}
