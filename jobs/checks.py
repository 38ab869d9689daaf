"""System checks of the jobs app (`manage.py check`, and every `manage.py run_worker` at start)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from . import periodic


@register()
def periodic_every_names_registered_jobs(app_configs, **kwargs) -> list[Error]:
    """PERIODIC_EVERY may only name registered jobs: a typo would otherwise change nothing, silently."""
    known = {job.name for job in periodic.registered()}
    return [
        Error(f"PERIODIC_EVERY names {name!r}, which is not a periodic job.",
              hint=f"The registered jobs: {', '.join(sorted(known))}.", id="jobs.E001")
        for name in sorted(set(settings.PERIODIC_EVERY) - known)
    ]
