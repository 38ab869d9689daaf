"""Periodic jobs run exactly once per period across both hosts' schedulers, through a SIGKILL of one.

Every registered job runs here on a period of seconds (PERIODIC_EVERY and SMS_SWEEP_SECONDS in
conftest.APP_ENV), in three phases: both hosts' workers ticking, app-b's worker SIGKILLed (app-a's
alone), app-b's restarted (both again). Then, for each job and each period that fully elapsed:

- exactly one run row (jobs_periodicrun: written by whoever ran the job, in the job's transaction);
- none by the killed worker for a period that began after its death, and none missing across the
  kill: the survivor takes every period over at once (it needs no heartbeat to tell);
- the witness, independent of the rows: the "ran for the period" lines of both hosts' worker logs,
  written after each commit by the scheduler that ran the job. No (job, period) is logged twice,
  each line names the worker its row names, and every row has its line (the killed worker may
  have died between a commit and its line: only for the period it died in).
"""

from __future__ import annotations

import datetime
import json
import math
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cluster import harness
from tests.cluster.conftest import FULL
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

PHASE = 20 if FULL else 7  # seconds of each phase
JOBS = {"messaging.sweep", "members.tally_check", "members.clear_sessions", "jobs.housekeeping"}
LINE = re.compile(r"periodic job (\S+) ran for the period from (\S+) on (\S+)$")


def test_it_runs_every_registered_job_once_per_period_across_both_hosts_and_a_kill(healthy):
    top = healthy
    periods = _registered_periods(top)
    assert JOBS <= set(periods), periods
    assert max(periods.values()) <= PHASE / 1.4, periods  # each phase sees whole periods of every job
    victim, survivor = "app-b", "app-a"
    victim_id = top.worker_id(victim)
    began = time.time()
    _until(began + PHASE)
    top[f"worker-{victim}"].kill(signal.SIGKILL)
    killed = time.time()
    top[f"worker-{victim}"].wait(timeout=10)
    _until(killed + PHASE)
    restarting = time.time()  # before it: only app-a's worker is alive
    top.restart_worker(victim)
    _until(time.time() + PHASE)
    ended = time.time()

    rows = top.sql("pg-primary", "SELECT job, extract(epoch FROM period_start)::float8, worker_id FROM jobs_periodicrun "
                                 "WHERE period_start >= to_timestamp(%s) AND period_start < to_timestamp(%s)",
                   (began - max(periods.values()), ended))
    runs = Counter((job, round(start, 3)) for job, start, _ in rows)
    runner = {(job, round(start, 3)): worker for job, start, worker in rows}
    lines = _witness(top)
    report = []
    for job, every in sorted(periods.items()):
        # The periods that began after `began` and ended before `ended`: someone was ticking throughout.
        starts = [k * every for k in range(math.ceil(began / every), math.floor(ended / every))]
        assert starts, (job, every)
        counts = {start: runs[(job, round(start, 3))] for start in starts}
        assert set(counts.values()) == {1}, {_at(s): n for s, n in counts.items() if n != 1}
        late = [s for s in starts if s >= killed and runner[(job, round(s, 3))] == victim_id]
        assert late == [], f"{job}: the killed worker ran periods after its death: {[_at(s) for s in late]}"
        by_host = Counter(runner[(job, round(s, 3))].rsplit("-", 1)[0] for s in starts if s < killed)
        # Periods that began and ended while app-a's worker was the only one alive. (One that is still
        # open when the restarted worker starts ticking may go to either: both are alive then.)
        after_kill = Counter(runner[(job, round(s, 3))].rsplit("-", 1)[0] for s in starts
                             if killed <= s and s + every <= restarting)
        assert set(after_kill) <= {survivor}, after_kill
        report.append(f"{job} every {every:g}s: {len(starts)} periods, each run once (before the kill "
                      f"{dict(by_host)}, after it {dict(after_kill)})")
    # The witness: the workers' own lines, one per committed run.
    logged = Counter((job, start) for job, start, _ in lines)
    assert [key for key, n in logged.items() if n > 1] == []
    for job, start, worker in lines:
        if (job, start) in runner:
            assert runner[(job, start)] == worker, (job, _at(start), worker, runner[(job, start)])
    unlogged = [(job, start) for job, start in runs if (job, start) not in logged
                and not (runner[(job, start)] == victim_id and start > killed - periods[job] - 1)]
    assert unlogged == [], [(job, _at(start)) for job, start in unlogged]
    print("periodic jobs, both hosts' schedulers, app-b's worker SIGKILLed and restarted: " + "; ".join(report))


def _registered_periods(top: harness.Topology) -> dict[str, float]:
    """Each registered job's period, as the workers of this topology compute it."""
    env = harness.app_host.host_env(top.cluster, "app-a")
    out = harness.topology.run([harness.topology.PYTHON, "manage.py", "shell", "-c",
                                "import json; from jobs import periodic; "
                                "print(json.dumps({j.name: j.period_seconds() for j in periodic.registered()}))"],
                               env=env)
    return json.loads(out.strip().splitlines()[-1])


def _witness(top: harness.Topology) -> list[tuple[str, float, str]]:
    """(job, period start, worker) of every "ran for the period" line of both hosts' worker logs."""
    found = []
    for host in ("app-a", "app-b"):
        for line in Path(top[f"worker-{host}"].log).read_text(errors="replace").splitlines():
            match = LINE.search(line)
            if match:
                start = datetime.datetime.fromisoformat(match.group(2)).timestamp()
                found.append((match.group(1), round(start, 3), match.group(3)))
    return found


def _until(moment: float) -> None:
    """Let the schedulers tick until the wall clock reaches `moment` (periods are wall-clock time)."""
    procs.wait_for(lambda: time.time() >= moment, timeout=moment - time.time() + 5, what="the phase to pass")


def _at(start: float) -> str:
    return datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc).strftime("%H:%M:%S")
