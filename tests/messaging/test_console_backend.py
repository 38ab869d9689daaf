"""The console backend's outbox (SMS_OUTBOX): where every text goes, and where reconciliation looks,
so hosts that share one (make cluster's two app hosts) never write a killed worker's text twice."""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from pathlib import Path

from django.test import SimpleTestCase, override_settings
from django.utils import timezone

from messaging.backends.console import ConsoleBackend


class ConsoleOutboxTestCase(SimpleTestCase):
    def setUp(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="flock-outbox-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_it_writes_each_text_to_the_configured_outbox(self):
        with override_settings(SMS_OUTBOX=self.dir / "shared.log"):
            sid = ConsoleBackend().send(to="+15550100", from_="+15005550006", body="Hello").sid
        line = json.loads((self.dir / "shared.log").read_text())
        self.assertEqual((line["sid"], line["to"], line["body"]), (sid, "+15550100", "Hello"))

    def test_a_host_sharing_the_outbox_finds_the_other_hosts_text_and_one_that_does_not_cannot(self):
        since = timezone.now() - datetime.timedelta(minutes=1)
        with override_settings(SMS_OUTBOX=self.dir / "shared.log"):
            sid = ConsoleBackend().send(to="+15550101", from_="", body="Choir at 7").sid
            # Another host's worker reconciling the delivery: same outbox, same answer.
            self.assertEqual(ConsoleBackend().find_sent(to="+15550101", from_="", body="Choir at 7", since=since), sid)
            self.assertIsNone(ConsoleBackend().find_sent(to="+15550101", from_="", body="Choir at 8", since=since))
        with override_settings(SMS_OUTBOX=self.dir / "own.log"):
            self.assertIsNone(ConsoleBackend().find_sent(to="+15550101", from_="", body="Choir at 7", since=since))
