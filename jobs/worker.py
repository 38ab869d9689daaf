"""The task worker process (`manage.py run_worker`): django-tasks-db's worker, plus a heartbeat
thread and the periodic-job scheduler.

- The main thread is the framework's worker loop: it claims the next READY task (SELECT ... FOR
  UPDATE SKIP LOCKED on PostgreSQL; an exclusive transaction on SQLite) and runs it.
- A heartbeat thread refreshes this worker's WorkerHeartbeat row every WORKER_HEARTBEAT_SECONDS,
  so others can tell it is alive; it runs on its own, so a long task or a slow periodic job
  never makes a healthy worker look dead.
- A scheduler thread ticks every second (jobs.periodic: exactly once per period, all workers).
- SIGTERM / SIGINT: no new task is started, the running task is told to stop (`stopping()`:
  the sender finishes the text it is sending, then returns), and the process exits. A second
  signal exits at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from django.conf import settings
from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker

from . import heartbeat
from .periodic import Scheduler

logger = logging.getLogger("jobs.worker")

_stopping = threading.Event()
_current_worker_id: str | None = None
SCHEDULER_TICK_SECONDS = 1.0


def stopping() -> bool:
    """True once this process was asked to stop: long tasks check it between units of work."""
    return _stopping.is_set()


def pause(seconds: float) -> bool:
    """Sleep up to `seconds`, waking at once when the worker is asked to stop; True if it was."""
    return _stopping.wait(max(0.0, seconds))


def current_worker_id() -> str | None:
    """The id of the worker this process is (None outside `run_worker`)."""
    return _current_worker_id


class _Loop(threading.Thread):
    """A daemon thread calling `step` every `interval` seconds until the worker stops."""

    def __init__(self, name: str, interval: float, step) -> None:
        super().__init__(name=name, daemon=True)
        self.interval, self.step = interval, step
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.step()
            except Exception:
                logger.exception("%s failed; trying again in %.1fs", self.name, self.interval)
                close_old_connections()
                # A connection broken by a database restart is replaced on the next step.
                connection.close()
            self.halt.wait(self.interval)
        connection.close()


class FlockWorker(Worker):
    """The framework's worker with a graceful stop that long tasks can see."""

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        _stopping.set()
        super().shutdown(signum, frame)


def run(*, worker_id: str | None = None, queue_names: tuple[str, ...] = ("*",), scheduler: bool = True) -> None:
    """Run this process as a worker until it is told to stop."""
    global _current_worker_id
    worker_id = worker_id or heartbeat.new_worker_id()
    _current_worker_id = worker_id
    _stopping.clear()
    # The first beat before any task is claimed: a task is only ever run by a worker the
    # others can see (and so settle after, if it dies).
    heartbeat.beat(worker_id)
    loops = [_Loop("heartbeat", settings.WORKER_HEARTBEAT_SECONDS, lambda: heartbeat.beat(worker_id))]
    if scheduler:
        loops.append(_Loop("scheduler", SCHEDULER_TICK_SECONDS, Scheduler(worker_id).tick))
    for loop in loops:
        loop.start()
    worker = FlockWorker(
        queue_names=list(queue_names), interval=settings.WORKER_POLL_SECONDS, batch=False,
        backend_name="default", startup_delay=False, max_tasks=None, worker_id=worker_id,
        excluded_queue_names=[],
    )
    worker.configure_signals()
    logger.info("worker %s started (scheduler %s)", worker_id, "on" if scheduler else "off")
    try:
        worker.run()
    finally:
        for loop in loops:
            loop.halt.set()
        for loop in loops:
            loop.join(timeout=10)
        worker.reset_signals()
        heartbeat.stopped(worker_id)
        logger.info("worker %s stopped", worker_id)
