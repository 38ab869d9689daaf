"""Worker heartbeats: who is alive, and which workers are dead (so others settle their work).

A worker is alive while its heartbeat row was refreshed within WORKER_DEAD_SECONDS and it has
not stopped. `workers_seen` (queue health) counts the live ones by that same rule, so health
stops counting a killed worker at the moment the sweep starts settling its work.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import WorkerHeartbeat


def new_worker_id() -> str:
    """Unique across hosts and restarts (a pid is reused; a hostname is shared by containers)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def beat(worker_id: str) -> None:
    """Record that `worker_id` is alive now (creating its row on the first beat)."""
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(seen_at=now, stopped_at=None)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=worker_id,
            defaults={"hostname": socket.gethostname()[:255], "pid": os.getpid(), "seen_at": now, "stopped_at": None},
        )


def stopped(worker_id: str) -> None:
    """A clean exit: the worker is no longer counted, and nothing of it needs settling."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())


def _alive(now: datetime.datetime | None) -> QuerySet[WorkerHeartbeat]:
    now = now or timezone.now()
    within = datetime.timedelta(seconds=settings.WORKER_DEAD_SECONDS)
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True, seen_at__gte=now - within)


def alive_worker_ids(now: datetime.datetime | None = None) -> set[str]:
    """Workers heard from within WORKER_DEAD_SECONDS (the others are dead)."""
    return set(_alive(now).values_list("worker_id", flat=True))


def workers_seen(now: datetime.datetime | None = None) -> int:
    """How many workers are alive (queue health's `workers_seen`)."""
    return _alive(now).count()


def forget_old(now: datetime.datetime | None = None, keep: datetime.timedelta = datetime.timedelta(days=7)) -> int:
    """Drop heartbeats of workers gone for a week (their work was settled long ago)."""
    now = now or timezone.now()
    deleted, _ = WorkerHeartbeat.objects.filter(seen_at__lt=now - keep).delete()
    return deleted
