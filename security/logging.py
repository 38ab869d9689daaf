"""Log records of refused requests as one warning line.

Django logs a `SuspiciousOperation` (a bad Host header: `django.security.DisallowedHost`; too
many fields; a tampered session...) at ERROR with the full traceback. It is the client's
doing and answered with a 400: a WARNING with the message is what an operator needs, and a
traceback per probe would drown real errors.
"""

from __future__ import annotations

import logging


class SecurityRecordsAsWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = record.stack_info = None
        return True
