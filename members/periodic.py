"""Members' periodic jobs (jobs.periodic: exactly once per period across every worker)."""

from __future__ import annotations

import logging

from importlib import import_module

from django.conf import settings

from jobs.periodic import periodic

from . import tallies
from .models import Church

logger = logging.getLogger("members.periodic")


@periodic("members.tally_check", every=6 * 3600)
def tally_check() -> str:
    """`rebuild_tallies --check` every six hours: log each church whose counters drifted from
    its rows (writes that went around the services), so an operator can recount it."""
    off = []
    for church_id, slug in Church.objects.order_by("slug").values_list("id", "slug"):
        found = tallies.drift(church_id)
        if any(found.values()):
            off.append(slug)
            logger.warning("tally check: church %s counters differ from its rows: %s "
                           "(run `manage.py rebuild_tallies --church %s`)", slug, found, slug)
    return f"churches off: {', '.join(off)}" if off else "all counters match"


@periodic("members.clear_sessions", every=24 * 3600)
def clear_sessions() -> str:
    """`manage.py clearsessions`: expired sessions out of the database (the cache expires its own)."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return "expired sessions cleared"
