"""`make cluster`: the whole multi-host topology on loopback, in order, then topology.json.

    .venv/bin/python scripts/cluster/up.py       # what `make cluster` runs (as root)

PostgreSQL primary and replica (postgres.py), PgBouncer (pgbouncer.py), Redis primary and
replica (redis_server.py), three Sentinels (sentinel.py), then the schema and the demo data
(migrations and seed_demo straight to the primary), the two app hosts (app_host.py), a task
worker on each (task_worker.py), and HAProxy in front (haproxy.py). Writes
var/cluster/topology.json (name, pid, host, port, role of each) and prints the `account:`
lines of the demo data. `make cluster-stop` (down.py) stops everything by those pids; the
PostgreSQL data stays in var/cluster/ for the next `make cluster`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import app_host  # noqa: E402
import haproxy  # noqa: E402
import pgbouncer  # noqa: E402
import postgres  # noqa: E402
import redis_server  # noqa: E402
import sentinel  # noqa: E402
import task_worker  # noqa: E402
from topology import APP_HOSTS, PYTHON, SENTINELS, Cluster, Component, port_free, read_topology, run, write_topology  # noqa: E402


def start(cluster: Cluster, *, seed: bool = True, say=print) -> list[Component]:
    """Bring the topology up; on any failure stop what was started, and raise."""
    cluster.dir.mkdir(parents=True, exist_ok=True)
    started: list[Component] = []

    def step(fn, *args):
        component = fn(cluster, *args)
        started.append(component)
        write_topology(cluster, started)  # so that cluster-stop can clean up a half-started topology
        return component

    try:
        say("cluster: PostgreSQL primary and streaming replica")
        step(postgres.start_primary)
        step(postgres.start_replica)
        say("cluster: PgBouncer (transaction pooling)")
        step(pgbouncer.start)
        say("cluster: Redis primary and replica, three Sentinels")
        step(redis_server.start_one, "redis-a")
        redis_server.wait_replicating(step(redis_server.start_one, "redis-b", "redis-a"))
        sentinel.wait_ready([step(sentinel.start_one, name) for name in SENTINELS])
        say("cluster: migrations and demo data (straight to the primary)")
        accounts = prepare_database(cluster, seed=seed)
        app_host.prepare_static(cluster)
        say("cluster: app hosts app-a and app-b (Gunicorn)")
        for name in APP_HOSTS:
            step(app_host.start_one, name)
        say("cluster: a task worker on each app host (texts, periodic jobs)")
        for name in APP_HOSTS:
            step(task_worker.start_one, name)
        say("cluster: HAProxy")
        step(haproxy.start)
    except BaseException:
        stop(started)
        cluster.topology_file.unlink(missing_ok=True)
        raise
    if accounts:
        say("\n".join(accounts))
    return started


def prepare_database(cluster: Cluster, *, seed: bool) -> list[str]:
    """Migrate the primary and seed the demo data when it is empty; the `account:` lines."""
    env = cluster.django_env(var_dir=cluster.dir / "manage", direct=True)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    accounts_file = cluster.dir / "accounts.txt"
    if seed:
        out = run([PYTHON, "manage.py", "seed_demo", "--if-empty"], env=env)
        lines = [line for line in out.splitlines() if line.startswith("account:")]
        if lines:
            accounts_file.write_text("\n".join(lines) + "\n")
    return accounts_file.read_text().splitlines() if accounts_file.exists() else []


def stop(components: list[Component]) -> None:
    """In reverse order of starting: the balancer first, the databases last."""
    for component in reversed(components):
        component.stop()


def main() -> int:
    cluster = Cluster.from_env()
    if cluster.topology_file.exists():
        running = [c for c in read_topology(cluster.topology_file) if c.alive()]
        if running:
            print(f"cluster: already running ({len(running)} processes in {cluster.topology_file}); "
                  f"the balancer is http://127.0.0.1:{cluster.balancer_port}/ -- `make cluster-stop` first to restart it")
            return 0
    busy = [f"{name} ({port})" for name, port in {"balancer": cluster.balancer_port, **cluster.ports}.items()
            if not port_free(port)]
    if busy:
        print(f"cluster: these ports are taken: {', '.join(busy)}. Set CLUSTER_PORT (the balancer) or "
              "CLUSTER_PORT_BASE (the block of the others, 18400 by default) to free ones.", file=sys.stderr)
        return 1
    import topology

    if os.geteuid() != 0:
        print("cluster: run it as root: PostgreSQL and PgBouncer run as the postgres OS user, and the missing "
              "Debian packages are installed with apt-get", file=sys.stderr)
        return 1
    topology.install_packages()
    start(cluster)
    print(f"\ncluster: up. The balancer: http://127.0.0.1:{cluster.balancer_port}/ "
          f"(topology: {cluster.topology_file}; logs: {cluster.dir / 'logs'}; stop: make cluster-stop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
