"""`manage.py cache_bench`: runs, reports each measurement, leaves the site's counters alone."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from cachemon import counters
from tests.base import FlockTestCase

from .support import fast_passwords


@fast_passwords
class CacheBenchTestCase(FlockTestCase):
    def test_it_reports_hits_misses_and_the_kill_switch(self):
        out = StringIO()
        call_command("cache_bench", "-n", "20", stdout=out)
        text = out.getvalue()
        for label in ("hit (incl. counting):", "miss (fetch is free):", "counters.count alone:", "CACHE_ASIDE=off:"):
            self.assertRegex(text, rf"{re.escape(label)}\s+n=20 median=[\d.]+ ms")
        # The bench used its own key prefix: the site's figures did not move.
        self.assertEqual(counters.totals()["stats"], {"hits": 0, "misses": 0, "errors": 0})
