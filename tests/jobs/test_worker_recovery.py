"""The worker outlives the database (or PgBouncer) going away: its loop tries again on a new
connection, and a task that ended while the database was away gets its outcome recorded once it
answers (never left RUNNING under a live worker, which nobody would re-queue)."""

from __future__ import annotations

from unittest import mock

from django.db import OperationalError
from django.test import TransactionTestCase
from django_tasks_db.models import DBTaskResult, DBTaskResultQuerySet

from jobs import worker
from messaging import tasks

GONE = 2**40  # no such message: the send task returns at once


class WorkerRecoveryTestCase(TransactionTestCase):
    def run_one_task(self) -> None:
        """A worker that runs one task and returns (its loop as `run_worker` runs it)."""
        flock_worker = worker.FlockWorker(
            queue_names=["*"], interval=0.01, batch=False, backend_name="default", startup_delay=False, max_tasks=1,
            worker_id="w-recovery", excluded_queue_names=[])
        with mock.patch.object(worker, "_current_worker_id", "w-recovery"):
            flock_worker.run()

    def test_it_keeps_claiming_tasks_after_the_database_went_away(self):
        tasks.send_message.enqueue(message_id=GONE)
        real_get_locked = DBTaskResultQuerySet.get_locked
        calls = []

        def away_once(queryset):
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("server closed the connection unexpectedly")
            return real_get_locked(queryset)

        with mock.patch.object(DBTaskResultQuerySet, "get_locked", away_once), \
                self.assertLogs("jobs.worker", "ERROR") as logs:
            self.run_one_task()
        self.assertEqual(len(calls), 2)
        self.assertIn("the database did not answer; trying again", logs.output[0])
        self.assertEqual(DBTaskResult.objects.get().status, "SUCCESSFUL")

    def test_it_records_a_tasks_outcome_once_the_database_answers_again(self):
        tasks.send_message.enqueue(message_id=GONE)
        real_save = DBTaskResult.save

        def outcome_unsaved(result, *args, **kwargs):
            # The claim is saved; every save of an outcome (success, then failure) finds the database away.
            if "return_value" in (kwargs.get("update_fields") or ()):
                raise OperationalError("server closed the connection unexpectedly")
            return real_save(result, *args, **kwargs)

        with mock.patch.object(DBTaskResult, "save", outcome_unsaved), mock.patch("django_tasks_db.utils.time.sleep"), \
                self.assertLogs("jobs.worker", "ERROR") as logs:
            self.run_one_task()
        self.assertIn("its outcome could not be recorded", logs.output[0])
        result = DBTaskResult.objects.get()
        # What the framework meant to write: the task failed on the database error.
        self.assertEqual(result.status, "FAILED")
        self.assertEqual(result.exception_class_path, "django.db.utils.OperationalError")
        self.assertIsNotNone(result.finished_at)
