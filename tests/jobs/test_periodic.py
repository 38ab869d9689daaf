"""Periodic jobs run exactly once per period, whoever races for them; worker heartbeats."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
import time
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import TransactionTestCase, override_settings
from django.utils import timezone

from jobs import heartbeat, periodic
from jobs.models import PeriodicRun, WorkerHeartbeat
from tests.base import FlockTestCase
from tests.ops import procs

BASE = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


class PeriodicTestCase(FlockTestCase):
    def test_it_aligns_periods_to_the_epoch(self):
        job = periodic.Job(name="t", every=60, func=lambda: None)
        self.assertEqual(job.period_start(BASE + datetime.timedelta(seconds=59.9)), BASE)
        self.assertEqual(job.period_start(BASE + datetime.timedelta(seconds=60)), BASE + datetime.timedelta(minutes=1))
        with self.assertRaises(ValueError):
            periodic.Job(name="bad", every=0, func=lambda: None).period_start(BASE)

    def test_it_runs_a_period_once_and_keeps_the_result(self):
        calls = []
        job = periodic.Job(name="t.once", every=10, func=lambda: calls.append(1) or "did it")
        self.assertTrue(periodic.run_period(job, worker_id="a", now=BASE))
        self.assertFalse(periodic.run_period(job, worker_id="b", now=BASE + datetime.timedelta(seconds=9)))
        self.assertTrue(periodic.run_period(job, worker_id="b", now=BASE + datetime.timedelta(seconds=10)))
        self.assertEqual(len(calls), 2)
        run = PeriodicRun.objects.get(job="t.once", period_start=BASE)
        self.assertEqual((run.worker_id, run.result), ("a", "did it"))
        self.assertIsNotNone(run.duration_ms)

    def test_it_rolls_back_a_failed_job_with_its_claim(self):
        def boom() -> None:
            WorkerHeartbeat.objects.create(worker_id="written-by-the-job", hostname="h", pid=1)
            raise RuntimeError("boom")

        job = periodic.Job(name="t.fail", every=10, func=boom)
        with self.assertRaises(RuntimeError):
            periodic.run_period(job, worker_id="a", now=BASE)
        self.assertFalse(PeriodicRun.objects.filter(job="t.fail").exists())
        self.assertFalse(WorkerHeartbeat.objects.filter(worker_id="written-by-the-job").exists())
        # The period is free again: another scheduler may run it.
        job_ok = periodic.Job(name="t.fail", every=10, func=lambda: None)
        self.assertTrue(periodic.run_period(job_ok, worker_id="b", now=BASE))

    def test_its_scheduler_runs_each_registered_job_once_per_period(self):
        calls = []
        with mock.patch.dict(periodic._registry, clear=True):
            periodic.register("t.a", every=60, func=lambda: calls.append("a"))
            periodic.register("t.b", every=3600, func=lambda: calls.append("b"))
            first, second = periodic.Scheduler("w1"), periodic.Scheduler("w2")
            self.assertEqual(first.tick(BASE), ["t.a", "t.b"])
            self.assertEqual(second.tick(BASE + datetime.timedelta(seconds=1)), [])
            self.assertEqual(first.tick(BASE + datetime.timedelta(seconds=2)), [])
            self.assertEqual(second.tick(BASE + datetime.timedelta(seconds=61)), ["t.a"])
        self.assertEqual(calls, ["a", "b", "a"])

    def test_its_scheduler_logs_a_failure_and_goes_on(self):
        with mock.patch.dict(periodic._registry, clear=True):
            periodic.register("t.bad", every=60, func=lambda: 1 / 0)
            periodic.register("t.good", every=60, func=lambda: None)
            with self.assertLogs("jobs.periodic", "ERROR"):
                self.assertEqual(periodic.Scheduler("w").tick(BASE), ["t.good"])

    def test_it_registers_the_messaging_members_and_housekeeping_jobs(self):
        names = {job.name for job in periodic.registered()}
        self.assertTrue({"messaging.sweep", "members.tally_check", "members.clear_sessions",
                         "jobs.housekeeping"} <= names)
        for name in ("members.tally_check", "members.clear_sessions", "jobs.housekeeping", "messaging.sweep"):
            self.assertTrue(periodic.run_period(periodic.get(name), worker_id="w", now=BASE), name)

    def test_it_takes_a_jobs_period_from_periodic_every(self):
        job = periodic.Job(name="t.every", every=60, func=lambda: None)
        with override_settings(PERIODIC_EVERY={"t.every": 5.0, "t.other": 1.0}):
            self.assertEqual(job.period_seconds(), 5.0)
            self.assertEqual(job.period_start(BASE + datetime.timedelta(seconds=7)), BASE + datetime.timedelta(seconds=5))
        self.assertEqual(job.period_seconds(), 60.0)  # read at each tick, not when registered

    def test_it_logs_each_run_once_with_its_period_and_worker(self):
        with mock.patch.dict(periodic._registry, clear=True):
            periodic.register("t.logged", every=60, func=lambda: None)
            with self.assertLogs("jobs.periodic", "INFO") as logs:
                periodic.Scheduler("w-log").tick(BASE)
                periodic.Scheduler("w-other").tick(BASE + datetime.timedelta(seconds=1))
        self.assertEqual(logs.output, [f"INFO:jobs.periodic:periodic job t.logged ran for the period from "
                                       f"{BASE.isoformat()} on w-log"])

    def test_it_refuses_to_start_a_worker_with_an_unknown_job_in_periodic_every(self):
        with override_settings(PERIODIC_EVERY={"members.tally_check": 5.0, "members.taly_check": 5.0}):
            with self.assertRaises(SystemCheckError) as refused:
                call_command("check")
        self.assertIn("PERIODIC_EVERY names 'members.taly_check', which is not a periodic job", str(refused.exception))
        self.assertNotIn("'members.tally_check'", str(refused.exception))
        with override_settings(PERIODIC_EVERY={"members.tally_check": 5.0}):
            call_command("check")

    def test_it_reads_periodic_every_or_refuses_it_loudly(self):
        from churchapp.settings import _periodic_every

        def parse(value: str) -> dict:
            with mock.patch.dict(os.environ, {"PERIODIC_EVERY": value}):
                return _periodic_every("PERIODIC_EVERY")

        self.assertEqual(parse(""), {})
        self.assertEqual(parse(" members.tally_check=3600 , jobs.housekeeping=0.5 "),
                         {"members.tally_check": 3600.0, "jobs.housekeeping": 0.5})
        for bad in ("members.tally_check", "members.tally_check=", "=5", "x=0", "x=-1", "x=soon", "x=nan", "x=inf"):
            with self.subTest(bad=bad), self.assertRaisesMessage(ImproperlyConfigured, "PERIODIC_EVERY must be"):
                parse(bad)

    def test_it_logs_churches_whose_counters_drifted(self):
        from members.models import MemberTally

        self.assertEqual(periodic.get("members.tally_check").func(), "all counters match")
        MemberTally.objects.create(church=self.grace, status="member", joined_month=datetime.date(2020, 1, 1),
                                   in_group=False, total=5)
        with self.assertLogs("members.periodic", "WARNING") as logs:
            self.assertEqual(periodic.get("members.tally_check").func(), "churches off: grace")
        self.assertIn("rebuild_tallies --church grace", logs.output[0])


class HeartbeatTestCase(FlockTestCase):
    def test_it_counts_the_workers_alive_as_seen(self):
        heartbeat.beat("w1")
        heartbeat.beat("w2")
        # Silent for longer than WORKER_DEAD_SECONDS: dead to the sweep, so not seen by health either.
        WorkerHeartbeat.objects.create(worker_id="old", hostname="h", pid=1, seen_at=timezone.now() - datetime.timedelta(
            seconds=settings.WORKER_DEAD_SECONDS + 1))
        self.assertEqual(heartbeat.workers_seen(), 2)
        heartbeat.stopped("w2")
        self.assertEqual(heartbeat.workers_seen(), 1)
        self.assertEqual(heartbeat.alive_worker_ids(), {"w1"})
        heartbeat.beat("w2")  # a restart under the same id
        self.assertEqual(heartbeat.alive_worker_ids(), {"w1", "w2"})

    def test_it_takes_a_silent_worker_for_dead(self):
        heartbeat.beat("w1")
        later = timezone.now() + datetime.timedelta(seconds=settings.WORKER_DEAD_SECONDS + 1)
        self.assertEqual(heartbeat.alive_worker_ids(later), set())

    def test_it_makes_unique_worker_ids(self):
        self.assertNotEqual(heartbeat.new_worker_id(), heartbeat.new_worker_id())
        self.assertLessEqual(len(heartbeat.new_worker_id()), 64)


def _ledger() -> dict[int, list[str]]:
    by_period: dict[int, list[str]] = {}
    for worker_id in WorkerHeartbeat.objects.filter(worker_id__startswith="ledger-").values_list("worker_id", flat=True):
        _, period, runner = worker_id.split("-", 2)
        by_period.setdefault(int(period), []).append(runner)
    return by_period


@pytest.mark.postgres
class RacingSchedulersTestCase(TransactionTestCase):
    """Two schedulers race for every period in real concurrent PostgreSQL transactions."""

    PERIODS = 40

    def test_it_runs_each_period_exactly_once_between_two_threads(self):
        won = {"a": 0, "b": 0}
        barrier = threading.Barrier(2)

        def race(worker_id: str) -> None:
            try:
                for n in range(self.PERIODS):
                    def job(n=n) -> None:
                        WorkerHeartbeat.objects.create(worker_id=f"ledger-{n}-{worker_id}", hostname="t", pid=0)
                        time.sleep(0.005)

                    barrier.wait(timeout=30)
                    if periodic.run_period(periodic.Job(name="race.job", every=1, func=job), worker_id=worker_id,
                                           now=BASE + datetime.timedelta(seconds=n, milliseconds=500)):
                        won[worker_id] += 1
            finally:
                connection.close()

        threads = [threading.Thread(target=race, args=(w,)) for w in won]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        ledger = _ledger()
        self.assertEqual(sorted(ledger), list(range(self.PERIODS)))
        self.assertTrue(all(len(runners) == 1 for runners in ledger.values()), ledger)
        self.assertEqual(won["a"] + won["b"], self.PERIODS)
        self.assertEqual(PeriodicRun.objects.filter(job="race.job").count(), self.PERIODS)

    def test_it_runs_each_period_exactly_once_between_two_processes(self):
        db = connection.settings_dict
        env = procs.base_env(DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
        _race_processes(self, env)


@pytest.mark.slow
@procs.once
class RacingSchedulersOnSQLiteTestCase(FlockTestCase):
    """The same race between two processes on the embedded default (a SQLite file, WAL)."""

    def test_it_runs_each_period_exactly_once_between_two_processes(self):
        import tempfile

        import shutil

        var_dir = tempfile.mkdtemp(prefix="flock-race-")
        self.addCleanup(shutil.rmtree, var_dir, True)
        env = procs.base_env(FLOCK_VAR_DIR=var_dir, DATABASE_URL=f"sqlite:///{var_dir}/race.sqlite3")
        procs.manage(env, "migrate", "--noinput", "-v", "0")
        _race_processes(self, env, count_rows=lambda: _sqlite_ledger(f"{var_dir}/race.sqlite3"))


def _sqlite_ledger(path: str) -> dict[int, list[str]]:
    import sqlite3

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT worker_id FROM jobs_workerheartbeat WHERE worker_id LIKE 'ledger-%'").fetchall()
    by_period: dict[int, list[str]] = {}
    for (worker_id,) in rows:
        _, period, runner = worker_id.split("-", 2)
        by_period.setdefault(int(period), []).append(runner)
    return by_period


def _race_processes(case, env: dict, count_rows=_ledger, periods: int = 30) -> None:
    start = time.time() + 4  # both processes are set up (Django imported) by then
    racers = [subprocess.Popen([sys.executable, "-m", "tests.jobs.race", name, str(periods), str(start)],
                               cwd=procs.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in ("p1", "p2")]
    outputs = [r.communicate(timeout=120) for r in racers]
    for racer, (out, err) in zip(racers, outputs):
        case.assertEqual(racer.returncode, 0, err[-2000:])
    ledger = count_rows()
    case.assertEqual(sorted(ledger), list(range(periods)))
    case.assertTrue(all(len(runners) == 1 for runners in ledger.values()), ledger)
    case.assertEqual(sum(int(out.strip()) for out, _ in outputs), periods)
