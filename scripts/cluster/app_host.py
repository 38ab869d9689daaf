"""The two app hosts, app-a and app-b: one Gunicorn master each, with its workers.

Starts: `gunicorn -c gunicorn.conf.py churchapp.wsgi` per host, on its own 127.0.0.1 port, with
its own var/ directory (<cluster dir>/app-a, app-b: pidfile, Prometheus files, static files)
and the same DJANGO_SECRET_KEY; both reach PostgreSQL through PgBouncer, read the replica for
the lag-tolerant reads, and find Redis through the Sentinels (topology.Cluster.django_env).
Nothing else is shared between them: what one host knows, the other learns from PostgreSQL
and Redis. Each master runs in a process group of its own.
Stopped by: SIGTERM to the master's pid (Gunicorn's graceful stop: requests in flight
finish), SIGKILL to its process group after 40 s. `kill -HUP <pid>` reloads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import requests

from topology import APP_HOSTS, HOST, PYTHON, ROOT, Cluster, Component, run, spawn, wait_for


def var_dir(cluster: Cluster, name: str) -> Path:
    return cluster.dir / name


def prepare_static(cluster: Cluster) -> None:
    """collectstatic once, then the same files into each host's var/ (as each host's deploy would)."""
    build = cluster.dir / "static-build"
    run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=cluster.django_env(var_dir=build, direct=True))
    for name in APP_HOSTS:
        target = var_dir(cluster, name) / "staticfiles"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(build / "staticfiles", target)


def host_env(cluster: Cluster, name: str) -> dict[str, str]:
    port = cluster.ports[name]
    env = cluster.django_env(var_dir=var_dir(cluster, name))
    env.update(
        GUNICORN_BIND=f"{HOST}:{port}",
        PORT=str(port),
        WEB_CONCURRENCY=str(cluster.app_workers),
        GUNICORN_ACCESSLOG="",
        GUNICORN_LOGLEVEL="warning",
    )
    env.update(cluster.app_env)
    return env


def start_one(cluster: Cluster, name: str) -> Component:
    var = var_dir(cluster, name)
    var.mkdir(parents=True, exist_ok=True)
    log = cluster.dir / "logs" / f"{name}.log"
    proc = spawn([PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "churchapp.wsgi"], log=log,
                 env=host_env(cluster, name), cwd=ROOT)
    port = cluster.ports[name]
    wait_for(lambda: requests.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200, timeout=90,
             what=f"app host {name} on {port}", proc=proc, log=log)
    return Component(name=name, role="app", port=port, pid=proc.pid, log=str(log), program="gunicorn",
                     stop_signal="SIGTERM", stop_timeout=40, group=True, proc=proc)


def start(cluster: Cluster) -> list[Component]:
    return [start_one(cluster, name) for name in APP_HOSTS]
