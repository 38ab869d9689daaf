"""`make deploy` (scripts/deploy.sh): starts Gunicorn when none runs, HUPs it when one does,
and stops loudly, without touching the running app, when a step fails."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.ops import procs

pytestmark = [pytest.mark.slow, procs.once]


def deploy(env):
    return subprocess.run(
        ["bash", "scripts/deploy.sh"], cwd=procs.BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )


def test_it_starts_then_reloads_gunicorn(app_env):
    port = procs.free_port()
    env = {
        **app_env,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "VENV": str(procs.Path(sys.executable).parents[1]),
        "DEPLOY_SKIP_INSTALL": "1",
    }
    pidfile = procs.Path(env["FLOCK_VAR_DIR"]) / "gunicorn.pid"
    first = deploy(env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "== start Gunicorn ==" in first.stdout
    master = int(pidfile.read_text())
    try:
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=procs.TIMEOUT).status_code == 200
        workers = set(subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout.split())

        second = deploy(env)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"reload Gunicorn (HUP to {master})" in second.stdout
        assert int(pidfile.read_text()) == master  # same master, same listening socket

        def replaced():
            now = set(subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout.split())
            return now and now.isdisjoint(workers)

        procs.wait_for(replaced, timeout=60, what="new workers after HUP")
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=procs.TIMEOUT).status_code == 200
    finally:
        os.kill(master, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and subprocess.run(["kill", "-0", str(master)], capture_output=True).returncode == 0:
            time.sleep(0.2)


def test_it_stops_when_migrate_fails(app_env):
    env = {
        **app_env,
        "PORT": str(procs.free_port()),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{procs.free_port()}/nothing-listens-here",
        "DB_CONNECT_TIMEOUT": "1",
        "VENV": str(procs.Path(sys.executable).parents[1]),
        "DEPLOY_SKIP_INSTALL": "1",
    }
    result = deploy(env)
    assert result.returncode != 0
    assert "deploy FAILED during: migrate" in result.stderr
    assert "== collectstatic ==" not in result.stdout
    assert not (procs.Path(env["FLOCK_VAR_DIR"]) / "gunicorn.pid").exists()
