"""The local topology of `make cluster`: its one table of ports, and what every component script shares.

Every component is an existing server from Debian's packages (HAProxy, PgBouncer, PostgreSQL 15,
Redis and Redis Sentinel) or Flock itself (Gunicorn, the task worker), started as a child process
on a 127.0.0.1 port, with its data and log under the cluster directory (`var/cluster/` for
`make cluster`, a temporary directory for the tests). Each is recorded as a `Component` (name,
pid, host, port, role) in `topology.json`, and stopped by that pid (`down.py`, or the tests).

The ports of `make cluster` are one block, `CLUSTER_PORT_BASE` (18400) plus the offsets below,
and the balancer on `CLUSTER_PORT` (8080); the tests pass free ports instead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "var" / "cluster"
HOST = "127.0.0.1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
# The name the Sentinels monitor the Redis primary under (REDIS_SENTINEL_MASTER).
SENTINEL_MASTER = "flock"
DATABASE = "flock"

# The one table: component name -> offset from CLUSTER_PORT_BASE.
PORT_OFFSETS = {
    "app-a": 1,
    "app-b": 2,
    "pgbouncer": 10,
    "pg-primary": 11,
    "pg-replica": 12,
    "redis-a": 20,
    "redis-b": 21,
    "sentinel-1": 30,
    "sentinel-2": 31,
    "sentinel-3": 32,
}
APP_HOSTS = ("app-a", "app-b")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
# Debian packages `make cluster` needs beyond Python (postgresql-15 and redis-server are the
# machine's own services' packages; redis-server runs the Sentinels with --sentinel).
PACKAGES = {"haproxy": "/usr/sbin/haproxy", "pgbouncer": "/usr/sbin/pgbouncer",
            "postgresql-15": str(PG_BIN / "postgres"), "redis-server": "/usr/bin/redis-server"}


@dataclass
class Cluster:
    """Where a topology lives and how it is tuned (`make cluster`'s defaults; tests pass theirs)."""

    dir: Path = DEFAULT_DIR
    balancer_port: int = 8080
    ports: dict[str, int] = field(default_factory=dict)
    app_workers: int = 2
    # Off for the tests: durability is not what they test, and fsync is slow on a shared disk.
    fsync: bool = True
    sentinel_down_after_ms: int = 2000
    # Extra environment for the app hosts and workers (the tests lower some limits).
    app_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Cluster:
        base = int(os.environ.get("CLUSTER_PORT_BASE", "18400"))
        return cls(
            dir=Path(os.environ.get("CLUSTER_DIR", DEFAULT_DIR)),
            balancer_port=int(os.environ.get("CLUSTER_PORT", "8080")),
            ports={name: base + offset for name, offset in PORT_OFFSETS.items()},
            app_workers=int(os.environ.get("CLUSTER_APP_WORKERS", "2")),
        )

    @classmethod
    def on_free_ports(cls, directory: Path, **kw) -> Cluster:
        return cls(dir=directory, balancer_port=free_port(), ports={n: free_port() for n in PORT_OFFSETS}, **kw)

    @property
    def topology_file(self) -> Path:
        return self.dir / "topology.json"

    @property
    def run_dir(self) -> Path:
        """Unix sockets (PostgreSQL's, HAProxy's admin socket)."""
        return self.dir / "run"

    def secret_key(self) -> str:
        """The one DJANGO_SECRET_KEY of every app host (sessions and CSRF work across hosts)."""
        path = self.dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        return path.read_text().strip()

    def primary_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.ports['pg-primary']}/{DATABASE}"

    def replica_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.ports['pg-replica']}/{DATABASE}"

    def pgbouncer_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.ports['pgbouncer']}/{DATABASE}"

    def sentinels(self) -> str:
        return ",".join(f"{HOST}:{self.ports[name]}" for name in SENTINELS)

    def django_env(self, *, var_dir: Path, direct: bool = False) -> dict[str, str]:
        """The environment of a Flock process of this topology: through PgBouncer (or, for
        migrations and seeding, `direct` to the primary), the replica, Redis through Sentinel."""
        env = {k: v for k, v in os.environ.items() if k not in DJANGO_SERVICE_VARS}
        env.update(
            FLOCK_VAR_DIR=str(var_dir),
            DJANGO_SECRET_KEY=self.secret_key(),
            # Plain HTTP on loopback: development mode with DEBUG off (production mode would
            # mark the session cookie Secure, which no browser sends over http://).
            DJANGO_ENV="development",
            DJANGO_DEBUG="off",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.primary_url() if direct else self.pgbouncer_url(),
            DB_PGBOUNCER="off" if direct else "on",
            DATABASE_REPLICA_URL=self.replica_url(),
            REDIS_SENTINELS=self.sentinels(),
            REDIS_SENTINEL_MASTER=SENTINEL_MASTER,
            CACHE_KEY_PREFIX="flock",
            # The console backend's outbox: one for every host, as a provider is (task_worker.py).
            SMS_OUTBOX=str(self.dir / "sms-outbox.log"),
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        )
        env.update(self.app_env)
        return env


# The variables of a developer's shell that must not leak into the topology's processes.
DJANGO_SERVICE_VARS = (
    "DATABASE_URL", "REDIS_URL", "DATABASE_REPLICA_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER",
    "DB_PGBOUNCER", "DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR", "FLOCK_VAR_DIR", "PORT",
    "GUNICORN_BIND", "GUNICORN_PIDFILE", "GUNICORN_CONTROL_SOCKET", "CACHE_KEY_PREFIX",
)


@dataclass
class Component:
    """One running process of the topology, as topology.json records it."""

    name: str
    role: str
    port: int
    pid: int
    host: str = HOST
    log: str = ""
    # The program's file name, checked before a signal is sent (a pid can be reused).
    program: str = ""
    # How it is stopped: the signal, then SIGKILL after `stop_timeout` seconds.
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 30
    # For Gunicorn: SIGKILL goes to the whole process group (master and workers).
    group: bool = False
    proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def record(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "proc"}

    def alive(self) -> bool:
        return pid_alive(self.pid, self.program)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` now (to the process group for Gunicorn): the fault tests' SIGKILL."""
        if self.group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def stop(self) -> None:
        if not self.alive():
            self._reap()
            return
        os.kill(self.pid, getattr(signal, self.stop_signal))
        if not wait_gone(self, self.stop_timeout):
            self.kill(signal.SIGKILL)
            wait_gone(self, 10)
        self._reap()

    def wait(self, timeout: float = 30) -> None:
        if not wait_gone(self, timeout):
            raise AssertionError(f"{self.name} (pid {self.pid}) did not exit within {timeout}s")
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.group:
            # Gunicorn workers left behind by a SIGKILLed master must not keep serving.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pid_alive(pid: int, program: str = "") -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return False  # exited, not yet reaped by its parent
    if program:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        return any(program in part.decode(errors="replace") for part in cmdline[:3])
    return True


def wait_gone(component: Component, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if component.proc is not None and component.proc.poll() is not None:
            return True
        if not pid_alive(component.pid, component.program):
            return True
        time.sleep(0.05)
    return False


def spawn(cmd: list[str], *, log: Path, env: dict[str, str] | None = None, user: str | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start `cmd` in a session of its own (a Ctrl-C in the terminal does not reach it, and a
    process group for Gunicorn's master and workers), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        kwargs = {}
        if user:
            kwargs.update(user=user, group=user, extra_groups=[])
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd or ROOT, start_new_session=True, **kwargs)


def run(cmd: list[str], *, env: dict[str, str] | None = None, user: str | None = None, timeout: float = 600,
        cwd: Path | None = None) -> str:
    kwargs = {}
    if user:
        kwargs.update(user=user, group=user, extra_groups=[])
    result = subprocess.run(cmd, env=env, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def wait_for(check, *, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll `check()` until it is true; fail early when `proc` exited (with its log's tail)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({proc.returncode}){_tail(log)}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}: {last}{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- " + str(log) + " ---\n" + log.read_text(errors="replace")[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def missing_packages() -> list[str]:
    return [pkg for pkg, path in PACKAGES.items() if not Path(path).exists()]


def install_packages() -> None:
    """apt-get the missing packages when root, without letting their services start."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"make cluster needs the Debian packages {', '.join(missing)}: run it as root (it installs "
                 f"them), or `sudo apt-get install {' '.join(missing)}`.")
    print(f"installing {', '.join(missing)} (apt-get)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # No service of these packages may start on the machine's own ports: the topology runs its
    # own instances. policy-rc.d answering 101 is Debian's way to say "do not start services".
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\n# written by Flock's make cluster while it installs packages\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=True)
    finally:
        if made_policy:
            policy.unlink()
    still = missing_packages()
    if still:
        sys.exit(f"apt-get did not install {', '.join(still)}")


def as_postgres_dir(path: Path) -> Path:
    """A directory the postgres OS user owns (PostgreSQL and PgBouncer refuse to run as root)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, "postgres", "postgres")
    return path


def write_topology(cluster: Cluster, components: list[Component]) -> None:
    data = {
        "balancer": f"http://{HOST}:{cluster.balancer_port}",
        "directory": str(cluster.dir),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "components": [c.record() for c in components],
    }
    tmp = cluster.topology_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(cluster.topology_file)


def read_topology(path: Path) -> list[Component]:
    data = json.loads(path.read_text())
    return [Component(**c) for c in data["components"]]


if __name__ == "__main__":
    # `python3 scripts/cluster/topology.py`: only install the Debian packages (.ci/run does this).
    install_packages()
