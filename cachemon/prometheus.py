"""Prometheus export (`/metrics`) and the hooks Gunicorn's config calls.

Multiprocess mode: with `PROMETHEUS_MULTIPROC_DIR` set in the environment *before*
`prometheus_client` is first imported (gunicorn.conf.py sets it in the master), every worker
writes its counters to files in that directory and `/metrics` sums them, so a scrape that
lands on any worker sees the whole server. Without it, the process's default registry.

Gunicorn config (owned by ops):

    from cachemon import prometheus
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = "var/prometheus"
    def on_starting(server): prometheus.prepare_multiproc_dir("var/prometheus")
    def post_worker_init(worker): prometheus.on_worker_start()
    def child_exit(server, worker): prometheus.mark_worker_dead(worker.pid)
    def worker_exit(server, worker): prometheus.on_worker_exit()

This module imports neither Django nor prometheus_client at import time: the master may
import it before the environment variable is set, and prometheus_client decides at its own
import whether values live in memory or in the shared files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiproc_dir(path: str | os.PathLike) -> Path:
    """Wipe and create the multiprocess directory (at master start: old files would be summed in)."""
    directory = Path(path)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ.setdefault(ENV, str(directory))
    return directory


def mark_worker_dead(pid: int, path: str | os.PathLike | None = None) -> None:
    """For Gunicorn's `child_exit`: drop the dead worker's live-gauge files (counters stay summed)."""
    from prometheus_client import multiprocess

    target = path if path is not None else os.environ.get(ENV)
    if target:
        multiprocess.mark_process_dead(pid, str(target))


def on_worker_start() -> None:
    """For Gunicorn's `post_worker_init`: flush the cache counts every second from a thread."""
    from . import counters

    counters.start_flusher()


def on_worker_exit() -> None:
    """For Gunicorn's `worker_exit`: add the worker's last cache counts to the shared totals."""
    from . import counters

    counters.flush_at_exit()


def registry():
    """The registry `/metrics` renders: all workers' files in multiprocess mode, else this process."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    path = os.environ.get(ENV)
    if not path:
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined, path=path)
    return combined


# Collectors computed at scrape time (e.g. from the database) rather than summed from the
# workers' files: apps add them at start-up (messaging's queue gauges).
_scrape_collectors: list = []


def add_scrape_collector(collector) -> None:
    """Add a collector (an object with `collect()`) to every `/metrics` answer."""
    if not any(type(existing) is type(collector) for existing in _scrape_collectors):
        _scrape_collectors.append(collector)


def render() -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text exposition."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    body = generate_latest(registry())
    if _scrape_collectors:
        scraped = CollectorRegistry(auto_describe=False)
        for collector in _scrape_collectors:
            scraped.register(collector)
        body += generate_latest(scraped)
    return body, CONTENT_TYPE_LATEST
