"""The task worker of each app host: `manage.py run_worker` (texts, and the periodic scheduler).

Starts: one `python manage.py run_worker --worker-id <host>-<random>` per app host, with that
host's environment (app_host.host_env: DATABASE_URL through PgBouncer with DB_PGBOUNCER=on,
Redis through the Sentinels, its own var/ directory), in the foreground, in a session of its
own. It is up when its heartbeat row is in the primary (jobs.heartbeat). The id names the host
(`app-a-…`) and is new at every start: a restarted worker never inherits a dead one's claims.
Periodic jobs run exactly once per period across both hosts' schedulers (jobs.periodic: the
unique run row, inserted in the job's own transaction), which is why every host runs one.
The console backend's outbox is one file for both hosts (SMS_OUTBOX, topology.django_env), as a
provider would be: a text that a killed worker wrote is found, not written again, by the other
host's worker.
Connections: 3 persistent client connections to PgBouncer (the task loop, the heartbeat and
the scheduler threads, each its own), none to the primary or the replica directly.
Stopped by: SIGTERM to its pid (the text being sent is finished, the task queues its
continuation, the heartbeat row says `stopped`), SIGKILL after 60 s.
"""

from __future__ import annotations

import secrets

import psycopg

from topology import APP_HOSTS, DATABASE, HOST, PYTHON, ROOT, Cluster, Component, spawn, wait_for

import app_host


def start_one(cluster: Cluster, name: str) -> Component:
    """The worker of app host `name`, once its first heartbeat is in the database."""
    worker_id = f"{name}-{secrets.token_hex(6)}"
    log = cluster.dir / "logs" / f"worker-{name}.log"
    proc = spawn([PYTHON, "manage.py", "run_worker", "--worker-id", worker_id], log=log,
                 env=app_host.host_env(cluster, name), cwd=ROOT)
    wait_for(lambda: _beating(cluster, worker_id), timeout=90, what=f"the worker of {name} ({worker_id})",
             proc=proc, log=log)
    return Component(name=f"worker-{name}", role="worker", port=0, pid=proc.pid, log=str(log),
                     program="run_worker", stop_signal="SIGTERM", stop_timeout=60, proc=proc)


def _beating(cluster: Cluster, worker_id: str) -> bool:
    with psycopg.connect(host=HOST, port=cluster.ports["pg-primary"], user="postgres", dbname=DATABASE,
                         connect_timeout=2) as conn:
        return conn.execute("SELECT 1 FROM jobs_workerheartbeat WHERE worker_id = %s AND stopped_at IS NULL",
                            (worker_id,)).fetchone() is not None


def start(cluster: Cluster) -> list[Component]:
    return [start_one(cluster, name) for name in APP_HOSTS]
