"""The task worker process (`manage.py run_worker`): django-tasks-db's worker, plus a heartbeat
thread and the periodic-job scheduler.

- The main thread is the framework's worker loop: it claims the next READY task (SELECT ... FOR
  UPDATE SKIP LOCKED on PostgreSQL; an exclusive transaction on SQLite) and runs it.
- A heartbeat thread refreshes this worker's WorkerHeartbeat row every WORKER_HEARTBEAT_SECONDS,
  so others can tell it is alive; it runs on its own, so a long task or a slow periodic job
  never makes a healthy worker look dead.
- A scheduler thread ticks four times a second (jobs.periodic: exactly once per period, all
  workers); a tick with nothing due touches no database, and a period of a few seconds still
  gets several ticks on a busy machine.
- The database (or PgBouncer in front of it) going away and coming back costs no worker: each
  thread checks its connection before each step (as Django does per request), a failed step is
  tried again on a new connection, and the outcome of a task that ended while the database was
  away is recorded once it is back (a task left RUNNING under a live worker would never be
  re-queued by the sweep).
- SIGTERM / SIGINT: no new task is started, the running task is told to stop (`stopping()`:
  the sender finishes the text it is sending, then returns), and the process exits. A second
  signal exits at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from . import heartbeat
from .periodic import Scheduler

logger = logging.getLogger("jobs.worker")

_stopping = threading.Event()
_current_worker_id: str | None = None
SCHEDULER_TICK_SECONDS = 0.25
# Waits between attempts to reach a database that went away (doubling up to the last).
DATABASE_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


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
                # A connection that PgBouncer or PostgreSQL dropped since the last step is
                # replaced before it fails the step (CONN_HEALTH_CHECKS, as at each request).
                close_old_connections()
                self.step()
            except Exception:
                # A connection the failure broke is replaced by the check before the next step.
                logger.exception("%s failed; trying again in %.1fs", self.name, self.interval)
            self.halt.wait(self.interval)
        try:
            connection.close()
        except DatabaseError:
            pass  # broken: closed all the same


class FlockWorker(Worker):
    """The framework's worker with a graceful stop that long tasks can see, and that outlives
    the database going away (the framework's loop would exit on the first error)."""

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        _stopping.set()
        super().shutdown(signum, frame)

    def run(self) -> None:
        retry = _Retry()
        while True:
            try:
                super().run()
                return
            except DatabaseError:
                if not self.running:
                    return
                logger.exception("worker %s: the database did not answer; trying again", self.worker_id)
                if not retry.wait():
                    return

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        except DatabaseError:
            # The task ended (most often on this same error) and the framework could not
            # record how: its row says RUNNING under this live worker, which nobody re-queues.
            # Its in-memory row holds the outcome the framework meant to write.
            logger.exception("task %s: its outcome could not be recorded; trying until the database answers",
                             db_task_result.id)
            _record_outcome(db_task_result)


class _Retry:
    """Waits between attempts to reach the database: short at first, then longer; back to short
    once a minute has passed without a failure."""

    def __init__(self) -> None:
        self.failures, self.last = 0, 0.0

    def wait(self) -> bool:
        """Drop the (broken) connection and wait; False when the worker is stopping instead."""
        now = time.monotonic()
        if now - self.last > 60:
            self.failures = 0
        self.last = now
        delay = DATABASE_RETRY_SECONDS[min(self.failures, len(DATABASE_RETRY_SECONDS) - 1)]
        self.failures += 1
        try:
            connection.close()  # the next query opens a new connection
        except DatabaseError:
            pass  # it was broken: closed all the same
        return not pause(delay)


def _record_outcome(db_task_result: DBTaskResult) -> None:
    """Save the task's outcome (status, result or error) once the database answers again; give up
    only when the worker is stopping (then another worker's sweep settles it: a stopped worker's
    RUNNING tasks count as lost)."""
    fields = ["status", "return_value", "finished_at", "exception_class_path", "traceback"]
    retry = _Retry()
    while retry.wait():
        try:
            DBTaskResult.objects.filter(pk=db_task_result.pk, status="RUNNING").update(
                **{name: getattr(db_task_result, name) for name in fields})
            return
        except DatabaseError:
            continue


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
