"""Real processes for the operations tests: Gunicorn, a private Redis, a private PostgreSQL.

Everything listens on 127.0.0.1 on a free port and is stopped by the test that started it;
the machine's shared PostgreSQL (5432) and Redis (6379) are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

BASE_DIR = Path(__file__).resolve().parents[2]
# These tests bring their own database (a SQLite copy or a private PostgreSQL) and Redis, so
# the second pass of `make test` (DATABASE_URL/REDIS_URL set) would repeat them identically.
once = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="own processes and servers: run once, in the embedded pass"
)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "correct-horse-battery"
# Each request gets this long: a hung request fails the test instead of hanging it.
TIMEOUT = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, *, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except AssertionError:
            raise
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last}")


# A test run's service settings, which a child process must not inherit.
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DATABASE_REPLICA_URL", "REDIS_SENTINELS",
                "REDIS_SENTINEL_MASTER", "DB_PGBOUNCER")


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, minus the test run's service settings."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    # Development mode (as `make run`): static files without a collectstatic run.
    env.update(DJANGO_ENV="development", DJANGO_DEBUG="on", CACHE_KEY_PREFIX=f"flockops{os.getpid()}")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


CREATE_USERS = (
    "from members.models import Church, User; "
    "grace = Church.objects.create(name='Grace Church', slug='grace'); "
    f"User.objects.create_user('alice', 'alice@grace.test', '{PASSWORD}', church=grace); "
    f"User.objects.create_superuser('dana', 'dana@flock.test', '{PASSWORD}')"
)


def prepare_database(env: dict[str, str]) -> None:
    """Migrate the database in env's DATABASE_URL and add alice (Grace staff) and dana (admin)."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-c", CREATE_USERS)


class Gunicorn:
    """`gunicorn -c <config> <app>` as operators run it, on a free port."""

    def __init__(self, env: dict[str, str], *, app: str = "churchapp.wsgi", config: str = "gunicorn.conf.py",
                 workers: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var_dir = Path(env.get("FLOCK_VAR_DIR") or tempfile.mkdtemp(prefix="flock-gunicorn-"))
        self.env = {**env, "PORT": str(self.port), "WEB_CONCURRENCY": str(workers), "FLOCK_VAR_DIR": str(self.var_dir)}
        self.env.setdefault("GUNICORN_ACCESSLOG", "")  # quiet; errors still go to the log file
        self.log_path = self.var_dir / f"gunicorn-{self.port}.log"
        self.cmd = [sys.executable, "-m", "gunicorn", "-c", config, app]
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, cwd=BASE_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._serving, timeout=60, what=f"gunicorn on {self.port} (log: {self.log_path})")
        return self

    def _serving(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
        return requests.get(self.url + "/healthz", timeout=2).status_code == 200

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def worker_pids(self) -> set[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def log_in(base_url: str, username: str = "dana", password: str = PASSWORD, next_url: str = "/admin/") -> requests.Session:
    """Log in through the real login form; the returned session carries the cookies."""
    http = requests.Session()
    page = http.get(base_url + "/accounts/login/", timeout=TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = http.post(
        base_url + "/accounts/login/",
        data={"username": username, "password": password, "next": next_url, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert r.status_code == 302 and r.headers["Location"] == next_url, (r.status_code, r.text[:500])
    return http


def logged_in(http: requests.Session, base_url: str) -> bool:
    """Is this cookie jar a live admin session on that app host? (/admin/ answers 200, not a redirect.)"""
    r = http.get(base_url + "/admin/", allow_redirects=False, timeout=TIMEOUT)
    return r.status_code == 200


class RedisServer:
    """A private redis-server on a free port: ours to flush, kill and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="flock-redis-")
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.client().ping(), timeout=10, what=f"redis on {self.port}")
        return self

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresCluster:
    """A private PostgreSQL 15 cluster (initdb as the postgres OS user) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="flock-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/flock"

    @staticmethod
    def available() -> str:
        """'' when a private cluster can be made here, else why not."""
        if not (PG_BIN / "initdb").exists():
            return f"no PostgreSQL binaries in {PG_BIN}"
        if shutil.which("runuser") is None or os.geteuid() != 0:
            return "needs root and runuser to run initdb as the postgres user"
        return ""

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=timeout)

    def pg_ctl(self, *args: str) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", *args)

    def start(self) -> PostgresCluster:
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.resume()
        self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "flock")
        return self

    def resume(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=50"
        self.pg_ctl("-o", opts, "start")

    def halt(self) -> None:
        """Stop now (`-m fast`: open connections are cut, as in a restart or failover)."""
        self.pg_ctl("-m", "fast", "stop")

    def stop(self) -> None:
        try:
            self.pg_ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
