"""The reads that may be served by the streaming replica, and how they get there.

Only the reads named here ever leave the primary; every other read, and every write, stays on
`default` (churchapp/routers.py asks `current_alias()`):

| read          | where                                         | why it can move                       |
| ------------- | --------------------------------------------- | ------------------------------------- |
| `dashboard`   | analytics.selectors: the figures on a miss    | four aggregate queries, then cached   |
| `export`      | members.selectors.member_export_rows          | every member of the church, streamed  |
| `admin_stats` | analytics.selectors.platform_statistics       | figures of every church (the admin's) |

Guarantees:
- Never older than the moment the read began. Before a read goes to the replica, the
  primary's WAL position that covers every committed transaction is taken, and the replica
  must have replayed up to it (it may wait `REPLICA_CATCHUP_WAIT` for that). So a staff member's next read shows their own write
  (read-your-writes), everybody else's reads show it too, and a dashboard figure computed on
  the replica after an invalidation already contains the write that caused the invalidation
  (a value cached under a new generation is never older than that generation).
- A replica that is down, paused, lagging more than `REPLICA_MAX_LAG_SECONDS`, promoted, or
  not caught up in time is skipped: the read runs on the primary. A read that fails on the
  replica (it stopped, a recovery conflict cancelled the query) is run again on the primary,
  and the replica is left alone for `REPLICA_RETRY_SECONDS`.
- Inside a transaction on the primary every read stays there (it must see its own writes).
- No replica configured (`DATABASE_REPLICA_URL` unset): `fetch()` is called, nothing else.
- Counted in `flock_replica_reads_total{read, served_by, reason}` on /metrics.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from prometheus_client import Counter

from . import health

# How a replica read fails. Django wraps the errors of a query and of its fetches, but not of a
# server-side cursor's close (CursorWrapper.close is not wrapped), and that close is where a
# replica stopped in the middle of a streamed export shows up: psycopg's own error, unwrapped.
REPLICA_FAILURES = (DatabaseError, psycopg.Error)

T = TypeVar("T")
log = logging.getLogger("replica")

READS = ("dashboard", "export", "admin_stats")
PROM_READS = Counter(
    "flock_replica_reads_total",
    "Lag-tolerant reads by name, by the database that served them and why.",
    ["read", "served_by", "reason"],
)

# The alias the router sends reads to while a lag-tolerant read runs in this thread/context.
_alias: contextvars.ContextVar[str | None] = contextvars.ContextVar("flock_read_alias", default=None)


def current_alias() -> str:
    return _alias.get() or DEFAULT_DB_ALIAS


def lag_tolerant(read: str, fetch: Callable[[], T]) -> T:
    """`fetch()` on the replica when it has caught up with the primary, else on the primary."""
    alias, reason = _choose(read)
    if alias == DEFAULT_DB_ALIAS:
        _count(read, "primary", reason)
        return fetch()
    token = _alias.set(health.ALIAS)
    try:
        result = fetch()
    except DatabaseError as exc:
        _alias.reset(token)
        token = None
        return _after_failure(read, exc, fetch)
    finally:
        if token is not None:
            _alias.reset(token)
    _count(read, "replica", reason)
    return result


def lag_tolerant_iter(read: str, rows_after: Callable[[T | None], Iterator[T]]) -> Iterator[T]:
    """The rows of a streamed read (an export), from the replica when it has caught up.

    `rows_after(None)` is the whole stream, `rows_after(row)` the rows after `row` in the
    stream's (total) order. The query runs, and its first rows arrive, before anything is
    yielded: a replica failing then costs nothing (the primary serves the whole stream). One
    failing later is taken over by the primary from the last row sent, so the client still
    gets every row once, in order.
    """
    alias, reason = _choose(read)
    if alias == DEFAULT_DB_ALIAS:
        _count(read, "primary", reason)
        yield from rows_after(None)
        return
    token = _alias.set(health.ALIAS)
    try:
        rows = rows_after(None)
        row = next(rows, _END)
    except REPLICA_FAILURES as exc:
        _alias.reset(token)
        token = None
        yield from _after_failure(read, exc, lambda: rows_after(None))
        return
    finally:
        if token is not None:
            _alias.reset(token)
    _count(read, "replica", reason)
    while row is not _END:
        yield row
        last = row
        try:
            row = next(rows, _END)  # the query's cursor is on the replica's connection already
        except REPLICA_FAILURES as exc:
            yield from _after_failure(read, exc, lambda: rows_after(last))
            return


_END = object()


def _choose(read: str) -> tuple[str, str]:
    if read not in READS:
        raise ValueError(f"unknown lag-tolerant read {read!r}: name it in replica.reads.READS")
    if not health.configured():
        return DEFAULT_DB_ALIAS, "unconfigured"
    if _alias.get() is not None:
        return _alias.get(), "nested"
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS, "in-transaction"
    status = health.status()
    if not status.usable:
        return DEFAULT_DB_ALIAS, status.reason
    try:
        target = health.primary_commit_lsn()
    except DatabaseError:
        # The primary failing is the read's own problem: it fails there too, as any read would.
        return DEFAULT_DB_ALIAS, "primary-error"
    try:
        caught_up = health.replayed(target, timeout=settings.REPLICA_CATCHUP_WAIT)
    except DatabaseError as exc:
        health.mark_down(exc)
        return DEFAULT_DB_ALIAS, "down"
    if not caught_up:
        return DEFAULT_DB_ALIAS, "behind"
    return health.ALIAS, "ok"


def _after_failure(read: str, exc: Exception, fetch):
    log.warning("lag-tolerant read %s failed on the replica, running it on the primary: %s", read, exc)
    health.mark_down(exc)
    _count(read, "primary", "error")
    return fetch()


def _count(read: str, served_by: str, reason: str) -> None:
    if reason != "unconfigured":
        PROM_READS.labels(read, served_by, reason).inc()
