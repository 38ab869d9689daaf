"""Prometheus multiprocess mode: /metrics sums every worker's counters; the Gunicorn hooks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest

from cachemon import prometheus
from tests.base import FlockTestCase

from .support import fast_passwords, run_workers


@fast_passwords
class PrometheusTestCase(FlockTestCase):
    def test_it_prepares_an_empty_multiproc_dir(self):
        base = Path(tempfile.mkdtemp(prefix="flock-prom-"))
        target = base / "prometheus"
        target.mkdir()
        (target / "counter_123.db").write_bytes(b"stale")
        with mock.patch.dict(os.environ, {}, clear=False):
            os.environ.pop(prometheus.ENV, None)
            self.assertEqual(prometheus.prepare_multiproc_dir(target), target)
            self.assertEqual(os.environ[prometheus.ENV], str(target))
        self.assertEqual(list(target.iterdir()), [])

    def test_it_uses_the_process_registry_without_the_env_var(self):
        from prometheus_client import REGISTRY

        with mock.patch.dict(os.environ):
            os.environ.pop(prometheus.ENV, None)
            self.assertIs(prometheus.registry(), REGISTRY)

    @pytest.mark.slow
    def test_it_sums_counters_over_worker_processes(self):
        path = prometheus.prepare_multiproc_dir(Path(tempfile.mkdtemp(prefix="flock-prom-")) / "prometheus")
        n = 40
        pids = run_workers([["1", str(n), "atexit"], ["2", str(n), "worker_exit"]],
                           env={prometheus.ENV: str(path)})
        for pid in pids:  # what Gunicorn's child_exit hook does: counters must stay summed
            prometheus.mark_worker_dead(pid, path)

        with mock.patch.dict(os.environ, {prometheus.ENV: str(path)}):
            body = self.client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

        self.assertIn(f'flock_cache_aside_total{{namespace="stats",outcome="hits"}} {2.0 * (n - 1)}', body)
        self.assertIn('flock_cache_aside_total{namespace="stats",outcome="misses"} 2.0', body)
        self.assertIn(f'flock_cache_aside_total{{namespace="groups",outcome="misses"}} {2.0 * n}', body)
        self.assertIn(f'flock_cache_aside_total{{namespace="members",outcome="errors"}} {2.0 * n}', body)
