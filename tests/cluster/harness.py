"""A private `make cluster` topology for the fault tests, and the load that runs through it.

The topology is the one scripts/cluster/ starts (the same component scripts), on free
127.0.0.1 ports in a temporary directory, with fsync off. `Load` is a bounded loop of
logged-in staff requests through the balancer: a fixed number of threads, each stopping at
`stop()`, after `max_requests`, or after `max_seconds`, whichever comes first.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests

from tests.ops import procs

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "cluster"))

import app_host  # noqa: E402
import haproxy  # noqa: E402
import pgbouncer  # noqa: E402
import postgres  # noqa: E402
import redis_server  # noqa: E402
import sentinel  # noqa: E402
import topology  # noqa: E402
import up  # noqa: E402

PASSWORD = "cluster-test-password"
TIMEOUT = 30  # per request: slow answers on a busy 2-core box are answers, not failures


class Topology:
    """The running components by name, and what the tests do to them."""

    def __init__(self, cluster: topology.Cluster, components: list[topology.Component]) -> None:
        self.cluster = cluster
        self.components = {c.name: c for c in components}
        self.url = f"http://{topology.HOST}:{cluster.balancer_port}"
        self.staff = ""  # a staff account and the platform admin, from seed_demo's account: lines
        self.admin = ""

    # --- components ---------------------------------------------------------------------
    def __getitem__(self, name: str) -> topology.Component:
        return self.components[name]

    def host_url(self, name: str) -> str:
        return f"http://{topology.HOST}:{self.cluster.ports[name]}"

    def restart_app(self, name: str) -> topology.Component:
        self.components[name] = app_host.start_one(self.cluster, name)
        return self.components[name]

    def restart_pgbouncer(self) -> topology.Component:
        self.components["pgbouncer"] = pgbouncer.start(self.cluster)
        return self.components["pgbouncer"]

    def restart_replica(self) -> topology.Component:
        self.components["pg-replica"] = postgres.start_replica(self.cluster)
        return self.components["pg-replica"]

    def restart_redis(self, name: str) -> topology.Component:
        # With the file the Sentinels may have rewritten: a former primary comes back as a replica.
        self.components[name] = redis_server.start_one(self.cluster, name, fresh=False)
        return self.components[name]

    def stop_all(self) -> None:
        up.stop(list(self.components.values()))

    # --- state ----------------------------------------------------------------------------
    def balancer_states(self) -> dict[str, str]:
        return haproxy.server_states(self.cluster)

    def redis_primary(self) -> str:
        """The name of the Redis server the Sentinels call primary now."""
        port = sentinel.master_port(self.cluster.ports["sentinel-1"])
        return next(name for name in ("redis-a", "redis-b") if self.cluster.ports[name] == port)

    def redis(self, name: str) -> redis.Redis:
        return redis.Redis(host=topology.HOST, port=self.cluster.ports[name], socket_timeout=2)

    def sql(self, name: str, query: str, params: tuple = ()) -> list[tuple]:
        """A query on `pg-primary` or `pg-replica` directly (not through PgBouncer)."""
        with psycopg.connect(host=topology.HOST, port=self.cluster.ports[name], user="postgres",
                             dbname=topology.DATABASE, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def metric(self, name: str, **labels: str) -> float:
        """A counter summed over both app hosts (each host's /metrics sums its workers)."""
        total = 0.0
        for host in topology.APP_HOSTS:
            text = requests.get(self.host_url(host) + "/metrics", timeout=TIMEOUT).text
            for line in text.splitlines():
                if not line.startswith(name + "{"):
                    continue
                found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
                if all(found.get(k) == v for k, v in labels.items()):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_healthy(self, timeout: float = 90) -> None:
        """Both hosts in the balancer, a Redis replica linked to the primary, the replica streaming."""
        procs.wait_for(lambda: set(self.balancer_states().values()) == {"UP"}, timeout=timeout,
                       what="both app hosts UP in HAProxy")
        primary = self.redis_primary()
        replica = "redis-b" if primary == "redis-a" else "redis-a"
        procs.wait_for(lambda: self.redis(replica).info("replication").get("master_link_status") == "up",
                       timeout=timeout, what=f"{replica} replicating {primary}")
        procs.wait_for(lambda: self.sql("pg-primary", "SELECT count(*) FROM pg_stat_replication "
                                                      "WHERE state = 'streaming'")[0][0] == 1,
                       timeout=timeout, what="the PostgreSQL replica streaming")

    # --- pages ----------------------------------------------------------------------------
    def log_in(self, *, admin: bool = False) -> requests.Session:
        if admin:
            return procs.log_in(self.url, self.admin, PASSWORD, next_url="/admin/")
        return procs.log_in(self.url, self.staff, PASSWORD, next_url="/dashboard/")

    def add_member(self, http: requests.Session, first: str, last: str) -> requests.Response:
        page = http.get(self.url + "/members/new/", timeout=TIMEOUT)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return http.post(self.url + "/members/new/", allow_redirects=False, timeout=TIMEOUT,
                         data={"first_name": first, "last_name": last, "csrfmiddlewaretoken": token})

    def stat(self, http: requests.Session, name: str) -> int:
        """A dashboard figure (its `data-stat` element), read through the balancer."""
        page = http.get(self.url + "/dashboard/", timeout=TIMEOUT)
        assert page.status_code == 200, page.status_code
        return int(re.search(rf'data-stat="{name}"[^>]*>([\d,]+)<', page.text).group(1).replace(",", ""))


def start(directory: Path, *, app_env: dict[str, str]) -> Topology:
    cluster = topology.Cluster.on_free_ports(directory, fsync=False, sentinel_down_after_ms=1000, app_env=app_env)
    directory.mkdir(parents=True, exist_ok=True)
    (cluster.dir / "accounts.txt").unlink(missing_ok=True)
    components = up.start(cluster, seed=False, say=lambda msg: None)
    top = Topology(cluster, components)
    env = cluster.django_env(var_dir=cluster.dir / "manage", direct=True)
    out = topology.run([topology.PYTHON, "manage.py", "seed_demo", "--churches", "2", "--members", "300",
                        "--password", PASSWORD, "--seed", "13"], env=env)
    accounts = [line.split() for line in out.splitlines() if line.startswith("account:")]
    top.staff = next(words[1] for words in accounts if words[-1] == "staff")
    top.admin = next(words[1] for words in accounts if words[-1] == "admin")
    return top


@dataclass
class Outcome:
    path: str
    status: int | None  # None: no HTTP answer at all
    error: str
    at: float  # monotonic, when the request was sent
    done: float  # and when it failed


@dataclass
class Load:
    """`threads` logged-in staff sessions sending GETs of `paths` through the balancer."""

    top: Topology
    paths: tuple[str, ...] = ("/dashboard/", "/members/", "/groups/", "/members/?q=a")
    threads: int = 3
    max_requests: int = 5000  # per thread
    max_seconds: float = 240
    ok: int = 0
    failures: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        sessions = [self.top.log_in() for _ in range(self.threads)]
        deadline = time.monotonic() + self.max_seconds
        for http in sessions:
            t = threading.Thread(target=self._run, args=(http, deadline), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def _run(self, http: requests.Session, deadline: float) -> None:
        for i in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            path = self.paths[i % len(self.paths)]
            sent = time.monotonic()
            try:
                r = http.get(self.top.url + path, allow_redirects=False, timeout=TIMEOUT)
                outcome = None if r.status_code == 200 else Outcome(path, r.status_code, r.text[:200], sent,
                                                                    time.monotonic())
            except requests.RequestException as exc:
                outcome = Outcome(path, None, f"{type(exc).__name__}: {exc}", sent, time.monotonic())
            with self._lock:
                if outcome is None:
                    self.ok += 1
                else:
                    self.failures.append(outcome)

    def count(self) -> int:
        with self._lock:
            return self.ok + len(self.failures)

    def wait_requests(self, n: int, timeout: float = 60) -> None:
        """Until `n` more requests have been answered (the load is really running meanwhile)."""
        target = self.count() + n
        procs.wait_for(lambda: self.count() >= target, timeout=timeout, what=f"{n} more requests through the balancer")

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=TIMEOUT + 10)

    def __exit__(self, *exc) -> None:
        self.stop()

    def report(self) -> str:
        return f"{self.ok} answered 200, {len(self.failures)} failed: {self.failures[:5]}"
