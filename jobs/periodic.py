"""Periodic jobs that run exactly once per period across every worker and host.

    from jobs.periodic import periodic

    @periodic("messaging.sweep", every=lambda: settings.SMS_SWEEP_SECONDS)
    def sweep() -> str: ...            # its return value is kept as the run's `result`

Guarantees:
- Exactly once per period: periods are aligned to the epoch (`every` = 60: each whole minute),
  and a run is the INSERT of the unique row PeriodicRun(job, period_start) *in the job's own
  transaction*. Of two schedulers racing for a period, the second one's INSERT waits for the
  first transaction and then fails on the unique constraint (PostgreSQL), or waits for the write
  lock and then finds the row (SQLite): it skips. The job's writes and the row commit together:
  a job that fails (or a worker killed mid-job) rolls both back, and the period is free again.
- No session state: no advisory or session locks, no LISTEN/NOTIFY, nothing held between
  transactions, so it works behind PgBouncer's transaction pooling and across hosts.
- A job must do its work in the database it is given (its transaction): anything it does
  outside (an HTTP call, a file) is not undone by a rollback. Keep jobs short: on SQLite the
  transaction holds the write lock.
- A period nobody ran (every worker down) is skipped, not run late: the next period's run
  covers it (jobs are written to catch up on whatever is due).
- The period is the job's own (`every`) unless settings.PERIODIC_EVERY names the job
  (`PERIODIC_EVERY=members.tally_check=3600`): read at every tick, like `every`, and checked
  against the registered names when a worker starts (jobs/checks.py).
- Each run is logged once, after its commit, by the worker that ran it ("periodic job <name> ran
  for the period from <start> on <worker>"): the tests/cluster/ witness, beside the run rows.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import PeriodicRun

logger = logging.getLogger("jobs.periodic")

Seconds = float | Callable[[], float]


@dataclass(frozen=True)
class Job:
    name: str
    every: Seconds
    func: Callable[[], object]

    def period_seconds(self) -> float:
        value = settings.PERIODIC_EVERY.get(self.name)
        if value is None:
            value = self.every() if callable(self.every) else self.every
        if value <= 0:
            raise ValueError(f"periodic job {self.name!r}: its period must be positive, got {value}")
        return float(value)

    def period_start(self, now: datetime.datetime) -> datetime.datetime:
        """The start of the period `now` falls in (periods are aligned to the epoch, in UTC)."""
        every = self.period_seconds()
        start = (now.timestamp() // every) * every
        return datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc)


_registry: dict[str, Job] = {}


def register(name: str, *, every: Seconds, func: Callable[[], object]) -> Job:
    """Add (or replace) the job `name`, run once per `every` seconds (a number or a callable
    returning one, read at each tick so settings can change it)."""
    job = Job(name=name, every=every, func=func)
    _registry[name] = job
    return job


def periodic(name: str, *, every: Seconds) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Decorator form of `register`."""

    def decorate(func: Callable[[], object]) -> Callable[[], object]:
        register(name, every=every, func=func)
        return func

    return decorate


def registered() -> list[Job]:
    return sorted(_registry.values(), key=lambda job: job.name)


def get(name: str) -> Job:
    return _registry[name]


def run_period(job: Job, *, worker_id: str, now: datetime.datetime | None = None) -> bool:
    """Run `job` for the period `now` falls in, unless someone has: True when this call ran it.

    The claim and the job's work are one transaction (see the module docstring). A job that
    raises is rolled back, claim included, and the exception propagates.
    """
    now = now or timezone.now()
    start = job.period_start(now)
    if PeriodicRun.objects.filter(job=job.name, period_start=start).exists():
        return False  # the usual case once a period has been run: no write, no wait
    began = time.monotonic()
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = PeriodicRun.objects.create(job=job.name, period_start=start, worker_id=worker_id)
        except IntegrityError:
            return False  # another scheduler ran (or is running) this period
        result = job.func()
        run.duration_ms = (time.monotonic() - began) * 1000
        run.result = "" if result is None else str(result)[:2000]
        run.save(update_fields=["duration_ms", "result"])
    return True


class Scheduler:
    """What each worker runs once a second: every registered job that is due and not yet run
    for its period. Several schedulers (threads, processes, hosts) may tick at once."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        # Per job, the last period this scheduler has seen settled (run by anyone, or failed
        # here): no database round trip for it until the next period starts.
        self._settled: dict[str, datetime.datetime] = {}

    def tick(self, now: datetime.datetime | None = None) -> list[str]:
        """Run what is due; the names of the jobs this tick ran."""
        now = now or timezone.now()
        ran = []
        for job in registered():
            try:
                start = job.period_start(now)
            except ValueError:
                logger.exception("periodic job %s has a bad period", job.name)
                continue
            if self._settled.get(job.name) == start:
                continue
            try:
                if run_period(job, worker_id=self.worker_id, now=now):
                    ran.append(job.name)
                    logger.info("periodic job %s ran for the period from %s on %s", job.name, start.isoformat(),
                                self.worker_id)
            except Exception:
                # Rolled back: another scheduler may run this period; this one waits for the next.
                logger.exception("periodic job %s failed for the period from %s", job.name, start.isoformat())
            self._settled[job.name] = start
        return ran


def prune_runs(keep: datetime.timedelta = datetime.timedelta(days=7)) -> int:
    """Delete run records older than `keep` (the history shown in the admin)."""
    deleted, _ = PeriodicRun.objects.filter(period_start__lt=timezone.now() - keep).delete()
    return deleted


def _housekeeping() -> str:
    """Old run records, heartbeats of long-gone workers, and finished task results."""
    from django_tasks_db.models import DBTaskResult

    from . import heartbeat

    week_ago = timezone.now() - datetime.timedelta(days=7)
    tasks, _ = DBTaskResult.objects.finished().filter(finished_at__lt=week_ago).delete()
    return f"runs={prune_runs()} heartbeats={heartbeat.forget_old()} tasks={tasks}"


register("jobs.housekeeping", every=3600, func=_housekeeping)
