"""How the streaming replica is doing, as cheaply as a request can afford to ask.

Guarantees:
- `status()` costs nothing most of the time: the replica is asked (up? in recovery? replay
  paused? how far behind?) at most once per `REPLICA_CHECK_INTERVAL` per process; the other
  requests of that second go by the last answer. While one thread asks, the others do not wait.
- A replica that does not answer is left alone for `REPLICA_RETRY_SECONDS`: reads go to the
  primary meanwhile, and at most one request per period pays the (short) connect timeout.
- `replayed(target)` is exact: the replica has replayed the primary's write-ahead log up to
  `target` (a position taken from the primary with `primary_commit_lsn()`), so a transaction the
  primary had committed by then is visible in every snapshot the replica takes afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger("replica")

ALIAS = "replica"

# One round trip: up (it answered), in recovery (a replica, not a promoted or wrong server),
# replay paused, the replay position, and the lag (0 while it has replayed all it received:
# an idle primary sends nothing, and that is not lag).
PROBE_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
       pg_last_wal_replay_lsn()::text,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
"""


@dataclass(frozen=True)
class Status:
    usable: bool
    # ok | unconfigured | checking | down | not-a-replica | paused | lagging
    reason: str
    replay_lsn: int = 0
    lag_seconds: float | None = None
    error: str = ""


UNCONFIGURED = Status(False, "unconfigured")
CHECKING = Status(False, "checking")

_lock = threading.Lock()
_last: Status | None = None
_next_check = 0.0


def configured() -> bool:
    return ALIAS in settings.DATABASES


def parse_lsn(text: str | None) -> int:
    """'16/B374D848' -> a number that compares like the position (0 for NULL)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def status() -> Status:
    """The replica's last known health; asks it again when the last answer is old enough."""
    global _last, _next_check
    if not configured():
        return UNCONFIGURED
    last = _last
    if last is not None and time.monotonic() < _next_check:
        return last
    if not _lock.acquire(blocking=False):
        return last or CHECKING
    try:
        if _last is not None and time.monotonic() < _next_check:
            return _last  # another thread checked while this one waited for the lock
        current = _probe()
        wait = settings.REPLICA_RETRY_SECONDS if current.reason == "down" else settings.REPLICA_CHECK_INTERVAL
        _log_change(_last, current)
        _last, _next_check = current, time.monotonic() + wait
        return current
    finally:
        _lock.release()


def mark_down(exc: BaseException) -> None:
    """A read on the replica failed: skip it for REPLICA_RETRY_SECONDS."""
    global _last, _next_check
    current = Status(False, "down", error=f"{type(exc).__name__}: {exc}")
    with _lock:
        _log_change(_last, current)
        _last, _next_check = current, time.monotonic() + settings.REPLICA_RETRY_SECONDS
    _close_quietly()


def reset() -> None:
    """Forget what this process knows (tests, and after a reconfiguration)."""
    global _last, _next_check
    with _lock:
        _last, _next_check = None, 0.0


# With synchronous_commit on (the default) a transaction's commit record is flushed before
# COMMIT returns, so the flushed position covers every committed transaction. With it off,
# COMMIT returns first: only the inserted position covers it (the replica gets there when the
# WAL writer flushes, within wal_writer_delay).
TARGET_SQL = """
SELECT CASE WHEN current_setting('synchronous_commit') = 'off' THEN pg_current_wal_insert_lsn()
            ELSE pg_current_wal_flush_lsn() END::text
"""


def primary_commit_lsn() -> int:
    """A position of the primary's write-ahead log at or after every transaction that has
    committed by now (and so before every cache invalidation sent after a commit)."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(TARGET_SQL)
        return parse_lsn(cursor.fetchone()[0])


def replayed(target: int, *, timeout: float) -> bool:
    """Has the replica replayed the primary's log up to `target`? Waits up to `timeout` seconds
    for it (a healthy replica is milliseconds behind a busy primary), asking it directly.

    Asked afresh every time, never from a remembered position: a replica that restarted
    replays again from its last restart point, so what it once had replayed says nothing
    about what its snapshots show now."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        if _replay_lsn() >= target:
            return True
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _replay_lsn() -> int:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_replay_lsn()::text")
        return parse_lsn(cursor.fetchone()[0])


def _probe() -> Status:
    try:
        with connections[ALIAS].cursor() as cursor:
            cursor.execute(PROBE_SQL)
            in_recovery, paused, lsn_text, lag = cursor.fetchone()
    except DatabaseError as exc:
        _close_quietly()
        return Status(False, "down", error=f"{type(exc).__name__}: {exc}")
    lsn = parse_lsn(lsn_text)
    lag = None if lag is None else float(lag)
    if not in_recovery:
        # A promoted replica (or a URL pointing at a primary) has diverged: never read from it.
        return Status(False, "not-a-replica", lsn, lag)
    if paused:
        return Status(False, "paused", lsn, lag)
    if lag is not None and lag > settings.REPLICA_MAX_LAG_SECONDS:
        return Status(False, "lagging", lsn, lag)
    return Status(True, "ok", lsn, lag)


def _close_quietly() -> None:
    try:
        connections[ALIAS].close()
    except DatabaseError:
        pass


def _log_change(before: Status | None, after: Status) -> None:
    # Once per change of state, not once per request.
    if before is not None and before.reason == after.reason:
        return
    if after.usable:
        if before is not None:
            log.warning("replica usable again for lag-tolerant reads")
    else:
        log.warning("replica skipped (%s%s): lag-tolerant reads go to the primary",
                    after.reason, f": {after.error}" if after.error else "")
