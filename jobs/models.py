"""What the workers leave in the database: their heartbeats, and one row per periodic job run."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """One task worker process (`manage.py run_worker`), as last heard from.

    `seen_at` is refreshed every WORKER_HEARTBEAT_SECONDS by a thread of the worker; a worker
    whose `seen_at` is older than WORKER_DEAD_SECONDS is dead to everyone else (what it was
    doing is settled by the others). A clean exit sets `stopped_at`.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.worker_id


class PeriodicRun(models.Model):
    """A periodic job's run for one period. The unique (job, period_start) row is inserted in the
    job's own transaction: whichever scheduler inserts it runs the job, and the job's writes and
    this row commit (or roll back) together, so each period runs exactly once across every
    worker and host."""

    job = models.CharField(max_length=100)
    period_start = models.DateTimeField()
    worker_id = models.CharField(max_length=64)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.FloatField(null=True)
    result = models.TextField(blank=True)

    class Meta:
        ordering = ["-period_start", "job"]
        constraints = [
            models.UniqueConstraint(fields=["job", "period_start"], name="periodicrun_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.job} @ {self.period_start:%Y-%m-%d %H:%M:%S}"
