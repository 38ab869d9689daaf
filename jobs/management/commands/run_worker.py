"""`manage.py run_worker`: one task worker in the foreground (see jobs/worker.py).

SIGTERM or Ctrl-C: the text being sent is finished, then the worker exits; again: at once.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandParser

from jobs import worker


class Command(BaseCommand):
    help = "Run a task worker (texts, periodic jobs) until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker-id", help="unique across hosts (default: hostname-pid-random)")
        parser.add_argument("--no-scheduler", action="store_true", help="do not run periodic jobs in this worker")

    def handle(self, *args, **opts) -> None:
        for name in ("jobs", "messaging", "django_tasks_db", "django_tasks"):
            logging.getLogger(name).setLevel(logging.INFO)
        worker.run(worker_id=opts["worker_id"], scheduler=not opts["no_scheduler"])
