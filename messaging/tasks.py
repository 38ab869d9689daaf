"""The queue's tasks (django-tasks, database backend): what a worker runs to send a message.

A task is "send what is due of message M"; the deliveries themselves are the work list (see
services.py). A task sends until nothing of its message is due, the church's rate makes it
wait, its time budget is spent or the worker is stopping; then it queues its own continuation
(run_after: when something is due again) and returns, so a worker is never held by a waiting
message and the number of tasks per message stays what the confirm queued. The periodic sweep
re-queues a task for any message with queued deliveries and no live task (a worker killed
mid-task leaves its task RUNNING forever: django-tasks #46).
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

SEND_QUEUE = "default"


@task()
def send_message(message_id: int) -> dict:
    from jobs import worker

    from . import services

    worker_id = worker.current_worker_id()
    if worker_id is None:
        raise RuntimeError("send_message runs in a worker (manage.py run_worker), which has a heartbeat")
    return services.send_batch(message_id=message_id, worker_id=worker_id)


def enqueue_send(message_id: int, *, run_after: datetime.datetime | None = None, count: int = 1) -> None:
    """Queue `count` send tasks for the message, in the caller's transaction (if any)."""
    when = run_after or timezone.now()
    for _ in range(count):
        send_message.using(run_after=when).enqueue(message_id=message_id)


def others_ready() -> bool:
    """Whether any task is waiting for a worker now (then a short wait is not slept through)."""
    return DBTaskResult.objects.ready().exists()


def live_send_tasks() -> list[tuple[int, str, list[str]]]:
    """(message id, status, worker ids) of every send task that is waiting or running."""
    rows = DBTaskResult.objects.filter(
        task_path=send_message.module_path, status__in=("READY", "RUNNING"),
    ).values_list("args_kwargs", "status", "worker_ids")
    return [(int(args["kwargs"]["message_id"]), status, list(workers or [])) for args, status, workers in rows]
