"""One scheduler process for the exactly-once race (tests/jobs/test_periodic.py).

    python -m tests.jobs.race WORKER_ID PERIODS START_EPOCH

Waits until START_EPOCH (so every racer starts together), then for each of PERIODS one-second
periods calls jobs.periodic.run_period for the job "race.job", whose work is to write a ledger
row naming the period and this worker (in the job's transaction, like any job's writes).
Prints how many periods this process ran.
"""

from __future__ import annotations

import datetime
import os
import sys
import time


def main() -> None:
    worker_id, periods, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
    import django

    django.setup()
    from jobs import periodic
    from jobs.models import WorkerHeartbeat

    current = {}

    def job() -> None:
        # The ledger: one row per (period, runner). Exactly once means one row per period.
        WorkerHeartbeat.objects.create(worker_id=f"ledger-{current['period']}-{worker_id}", hostname="race", pid=0)
        time.sleep(0.02)  # widen the window in which the other racer tries the same period

    race = periodic.Job(name="race.job", every=1, func=job)
    base = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    while time.time() < start:
        time.sleep(0.005)
    ran = 0
    for n in range(periods):
        current["period"] = n
        if periodic.run_period(race, worker_id=worker_id, now=base + datetime.timedelta(seconds=n, milliseconds=500)):
            ran += 1
    print(ran)


if __name__ == "__main__":
    main()
