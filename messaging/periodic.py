"""Messaging's periodic job (jobs.periodic: exactly once per period across every worker)."""

from django.conf import settings

from jobs.periodic import periodic

from . import services


@periodic("messaging.sweep", every=lambda: settings.SMS_SWEEP_SECONDS)
def sweep() -> str:
    return services.sweep()
