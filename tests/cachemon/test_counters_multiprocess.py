"""Counters summed exactly over several processes, including ones that exit like Gunicorn workers."""

from __future__ import annotations

import subprocess
import time

import pytest

from cachemon import counters, keys
from tests.base import FlockTestCase

from .support import fast_passwords, run_workers, start_worker


@pytest.mark.slow
@fast_passwords
class CountersAcrossProcessesTestCase(FlockTestCase):
    def test_it_sums_exactly_over_processes_including_exiting_workers(self):
        n = 60
        # Two exit normally (atexit flush), one like a Gunicorn worker (worker_exit hook + os._exit).
        run_workers([["1", str(n), "atexit"], ["2", str(n), "atexit"], ["3", str(n), "worker_exit"]])

        totals = counters.totals()
        self.assertEqual(totals[keys.STATS], {"hits": 3 * (n - 1), "misses": 3, "errors": 0})
        self.assertEqual(totals[keys.GROUPS], {"hits": 0, "misses": 3 * n, "errors": 0})
        self.assertEqual(totals[keys.MEMBERS], {"hits": 0, "misses": 0, "errors": 3 * n})

    def test_it_flushes_an_idle_workers_counts_in_the_background(self):
        n = 30
        worker = start_worker(["4", str(n), "idle"], stdin=subprocess.PIPE)
        self.addCleanup(worker.wait, 30)
        self.addCleanup(worker.kill)
        self.assertEqual(worker.stdout.readline().strip(), "done")

        expected = {"hits": n - 1, "misses": 1, "errors": 0}
        deadline = time.monotonic() + 20  # a wait for the flusher thread, not a speed assertion
        while counters.totals()[keys.STATS] != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        # The worker is still alive and idle: no exit hook has run, the thread flushed.
        self.assertIsNone(worker.poll())
        self.assertEqual(counters.totals()[keys.STATS], expected)
        self.assertEqual(counters.totals()[keys.MEMBERS]["errors"], n)
