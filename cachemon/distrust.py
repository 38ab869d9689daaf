"""Ending a session (or a password) for good, whatever Redis did.

The failure it closes: a logout deletes the session row, but the Redis delete times out (a
`CLIENT PAUSE`, a partition, a restart with persistence); once Redis answers again, the old
cookie would find its cached session there and work again, in every process. The same for a
password change whose cached user could not be invalidated: the cached session-verification
hash would keep the old sessions alive.

Guarantees:
- A mutating cache call for a session or a user (a session's delete or save; a user's
  generation bump) that fails, or that the circuit breaker skipped, raises one shared watermark
  in the DATABASE (`CacheDistrust.until`, epoch seconds, a little ahead of now) before the
  request that made it answers.
- Cached sessions and users carry the time they were read from the database. One written
  before the watermark is not believed: it is read from the database again (and the cache
  refilled), so a deleted session stays deleted and a changed password ends the old sessions.
- Each process reads the watermark at most every `CACHE_DISTRUST_POLL_SECONDS` (1 s): one
  primary-key SELECT a second per busy process, none on an idle one. So once a logout has
  answered, the old cookie works nowhere after that second, and never again; while Redis is
  unreachable nobody reads it anyway (the breaker sends reads to the database).
- Raising the watermark writes the row at most once per `MARGIN` seconds per process during an
  outage (it is set `MARGIN` ahead: the failures until then are covered by it).

Host clocks are assumed to agree within `MARGIN` (NTP), since entries are stamped by the host
that cached them.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError

log = logging.getLogger("cachemon")

MARGIN = 2.0  # seconds the watermark is set ahead of the failure
_lock = threading.Lock()
_known = 0.0  # the watermark as last read (or raised) by this process
_fresh_until = 0.0  # monotonic time until which `_known` is believed current
_raised_to = 0.0  # the highest watermark this process wrote


def _poll() -> float:
    return float(getattr(settings, "CACHE_DISTRUST_POLL_SECONDS", 1.0))


def stamp() -> float:
    """The stamp of an entry about to be read from the database and cached (take it BEFORE the
    read: a write that fails while the read is under way then distrusts the entry too)."""
    return time.time()


def trusted(cached_at: object) -> bool:
    """Whether a cached session or user stamped `cached_at` may be believed."""
    return isinstance(cached_at, (int, float)) and cached_at >= watermark()


def watermark() -> float:
    global _known, _fresh_until
    now = time.monotonic()
    if now < _fresh_until:
        return _known
    from .models import CacheDistrust

    until = CacheDistrust.objects.filter(pk=1).values_list("until", flat=True).first() or 0.0
    with _lock:
        _known, _fresh_until = max(_known, until), now + _poll()
        return _known


def record(what: str) -> None:
    """A session or user entry may now be stale in the cache: distrust every such entry
    written until a moment from now, in every process (the database row)."""
    global _known, _raised_to
    now = time.time()
    if _raised_to >= now:
        return  # this process raised it past now already: that covers this failure too
    until = now + MARGIN
    from .models import CacheDistrust

    try:
        if not CacheDistrust.objects.filter(pk=1, until__lt=until).update(until=until):
            CacheDistrust.objects.get_or_create(pk=1, defaults={"until": until})
    except DatabaseError as exc:
        # Neither the cache nor the database: nothing can be promised; say so loudly.
        log.error("could not record a lost %s cache write in the database: %s", what, exc)
        return
    with _lock:
        _raised_to = until
        _known = max(_known, until)
    log.warning("a %s cache write was lost: cached sessions and users before %.3f are confirmed first",
                what, until)


def assume(until: float = 0.0, *, for_seconds: float = 10**9) -> None:
    """Set this process's view of the watermark without the database (tests)."""
    global _known, _fresh_until, _raised_to
    with _lock:
        _known, _fresh_until, _raised_to = until, time.monotonic() + for_seconds, 0.0
