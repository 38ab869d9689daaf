"""SMS providers, shaped like Django's email backends: `get_backend()` returns the one
settings.SMS_BACKEND names ("console" or "twilio")."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseBackend, PermanentError, ProviderError, SendResult, TemporaryError, UnknownOutcome

__all__ = ["BaseBackend", "PermanentError", "ProviderError", "SendResult", "TemporaryError", "UnknownOutcome",
           "get_backend"]

BACKENDS = {"console": "messaging.backends.console.ConsoleBackend", "twilio": "messaging.backends.twilio.TwilioBackend"}


def get_backend() -> BaseBackend:
    """A backend built from the current settings (cheap: no connection is opened here)."""
    return import_string(BACKENDS[settings.SMS_BACKEND])()
