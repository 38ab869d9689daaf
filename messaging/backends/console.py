"""The development backend: every text goes to the log and to the outbox (SMS_OUTBOX,
var/sms-outbox.log by default), one line each.

Nothing leaves the machine. `find_sent` reads the outbox back, so reconciliation after a killed
worker behaves as it does with Twilio; hosts whose workers share messages must share the outbox
(make cluster points both app hosts at one file), as they would share a provider.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .base import BaseBackend, SendResult

logger = logging.getLogger("messaging.console")


def outbox_path() -> Path:
    return Path(settings.SMS_OUTBOX)


class ConsoleBackend(BaseBackend):
    def send(self, *, to: str, from_: str, body: str, status_callback: str = "") -> SendResult:
        started = time.monotonic()
        sid = f"SMconsole{uuid.uuid4().hex[:24]}"
        record = {"at": timezone.now().isoformat(), "sid": sid, "to": to, "from": from_, "body": body}
        with open(outbox_path(), "a", encoding="utf-8") as out:
            # One line per text, whole, even with several workers writing at once.
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        logger.info("SMS to %s from %s (%s): %s", to, from_ or "-", sid, body)
        return SendResult(sid=sid, elapsed_ms=(time.monotonic() - started) * 1000)

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime.datetime) -> str | None:
        path = outbox_path()
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash mid-write was never a whole text
                if (record.get("to") == to and record.get("from") == from_ and record.get("body") == body
                        and datetime.datetime.fromisoformat(record["at"]) >= since):
                    return record["sid"]
        return None
