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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
import requests

from tests.messaging.fake_twilio import FakeTwilio
from tests.ops import procs

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "cluster"))

import app_host  # noqa: E402
import haproxy  # noqa: E402
import pgbouncer  # noqa: E402
import postgres  # noqa: E402
import redis_server  # noqa: E402
import sentinel  # noqa: E402
import task_worker  # noqa: E402
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
        self.fake: FakeTwilio | None = None  # the provider every worker of the topology texts through

    # --- components ---------------------------------------------------------------------
    def __getitem__(self, name: str) -> topology.Component:
        return self.components[name]

    def host_url(self, name: str) -> str:
        return f"http://{topology.HOST}:{self.cluster.ports[name]}"

    def restart_app(self, name: str) -> topology.Component:
        return self._restarted(app_host.start_one(self.cluster, name))

    def restart_pgbouncer(self) -> topology.Component:
        return self._restarted(pgbouncer.start(self.cluster))

    def restart_replica(self) -> topology.Component:
        return self._restarted(postgres.start_replica(self.cluster))

    def restart_redis(self, name: str) -> topology.Component:
        # With the file the Sentinels may have rewritten: a former primary comes back as a replica.
        return self._restarted(redis_server.start_one(self.cluster, name, fresh=False))

    def restart_worker(self, host: str) -> topology.Component:
        """A new worker for that app host (a new id: it inherits nothing of the old one)."""
        return self._restarted(task_worker.start_one(self.cluster, host))

    def _restarted(self, component: topology.Component) -> topology.Component:
        """In place of the old one, and in topology.json (which lists what runs, as down.py needs)."""
        self.components[component.name] = component
        topology.write_topology(self.cluster, list(self.components.values()))
        return component

    def worker_id(self, host: str) -> str:
        """The id of that app host's running worker (its heartbeat row has the worker's pid)."""
        rows = self.sql("pg-primary", "SELECT worker_id FROM jobs_workerheartbeat WHERE pid = %s AND worker_id LIKE %s "
                                      "ORDER BY started_at DESC LIMIT 1", (self[f"worker-{host}"].pid, f"{host}-%"))
        assert rows, f"no heartbeat of the worker of {host}"
        return rows[0][0]

    def workers_alive(self) -> set[str]:
        """Worker ids with a fresh heartbeat that have not stopped (jobs.heartbeat's rule)."""
        rows = self.sql("pg-primary", "SELECT worker_id FROM jobs_workerheartbeat WHERE stopped_at IS NULL "
                                      "AND seen_at > now() - make_interval(secs => %s)",
                        (float(self.cluster.app_env["WORKER_DEAD_SECONDS"]),))
        return {worker_id for (worker_id,) in rows}

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
        workers = [self[f"worker-{host}"] for host in topology.APP_HOSTS]
        assert all(w.alive() for w in workers), [w.name for w in workers if not w.alive()]
        expected = {self.worker_id(host) for host in topology.APP_HOSTS}
        procs.wait_for(lambda: expected <= self.workers_alive(), timeout=timeout, what="both hosts' workers beating")

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

    def queue_health(self, http: requests.Session) -> dict:
        """GET /api/admin/queue/health through the balancer (a platform admin's session)."""
        r = http.get(self.url + "/api/admin/queue/health", timeout=TIMEOUT)
        assert r.status_code in (200, 503), (r.status_code, r.text[:200])
        return r.json()

    def wait_workers_seen(self, http: requests.Session, n: int, *, timeout: float = 90) -> float:
        """Poll queue health (twice a second: it is rate-limited per admin) until it counts `n`
        workers; the seconds that took."""
        began = time.monotonic()
        seen = None
        while time.monotonic() < began + timeout:
            seen = self.queue_health(http)["workers_seen"]
            if seen == n:
                return time.monotonic() - began
            time.sleep(0.5)
        raise AssertionError(f"queue health counted {seen} workers for {timeout}s, not {n}")

    def textable_group(self, *, at_least: int) -> tuple[int, list[str]]:
        """The staff member's biggest current group with at least `at_least` people who can be
        texted, and their phones in the order their texts fall due (messaging.selectors.audience:
        by name; inactive people, no phone, opted out and a phone already taken are left out)."""
        groups = self.sql("pg-primary", """
            SELECT g.id FROM members_group g JOIN members_user u ON u.church_id = g.church_id
            JOIN members_membership ms ON ms.group_id = g.id JOIN members_member m ON m.id = ms.member_id
            WHERE u.username = %s AND NOT g.archived AND m.phone <> '' AND m.status <> 'inactive'
            GROUP BY g.id HAVING count(DISTINCT m.phone) >= %s ORDER BY count(DISTINCT m.phone) DESC, g.id LIMIT 1
            """, (self.staff, at_least))
        assert groups, f"no group of {self.staff}'s church with {at_least} people to text"
        rows = self.sql("pg-primary", """
            SELECT m.phone, m.status, EXISTS (SELECT 1 FROM messaging_optout o WHERE o.church_id = m.church_id
                                              AND o.phone = m.phone AND o.opted_out)
            FROM members_member m JOIN members_membership ms ON ms.member_id = m.id
            WHERE ms.group_id = %s ORDER BY m.last_name, m.first_name, m.id""", (groups[0][0],))
        phones: list[str] = []
        for phone, status, opted_out in rows:
            if phone and status != "inactive" and not opted_out and phone not in phones:
                phones.append(phone)
        return groups[0][0], phones

    def deliveries(self, message_id: int) -> list[tuple[str, str, int, str, str]]:
        """(phone, state, attempts, claimed_by, provider_sid) of each delivery of the message."""
        return self.sql("pg-primary", "SELECT phone, state, attempts, claimed_by, provider_sid FROM messaging_delivery "
                                      "WHERE message_id = %s ORDER BY due_at, id", (message_id,))

    def claimed_by(self, message_id: int, phone: str) -> str:
        """The worker id on that phone's delivery of the message (who claimed it last)."""
        return self.sql("pg-primary", "SELECT claimed_by FROM messaging_delivery WHERE message_id = %s AND phone = %s",
                        (message_id, phone))[0][0]

    def settled(self, message_id: int) -> bool:
        """Nothing of the message is queued or being sent any more."""
        return not self.sql("pg-primary", "SELECT 1 FROM messaging_delivery WHERE message_id = %s "
                                          "AND state IN ('queued', 'sending') LIMIT 1", (message_id,))

    def assert_each_phone_texted_once(self, message_id: int, body: str) -> list[tuple]:
        """Every delivery of the message sent (the left-out people skipped), and the provider
        holding exactly one text of `body` for each sent one's phone, the one whose id it recorded."""
        rows = [row for row in self.deliveries(message_id) if row[1] != "skipped"]
        with self.fake.lock:
            texts = [(m["to"], m["sid"]) for m in self.fake.messages if m["body"] == body]
        assert {phone: state for phone, state, *_ in rows} == {phone: "sent" for phone, *_ in rows}
        assert Counter(to for to, _ in texts) == Counter({phone: 1 for phone, *_ in rows})
        assert {phone: sid for phone, *_, sid in rows} == dict(texts)
        return rows

    def send_text(self, http: requests.Session, group_id: int, body: str) -> tuple[int, int]:
        """Compose, preview and confirm a text to the group through the balancer, as staff do:
        (the message's id, the recipients the preview promised)."""
        page = http.get(f"{self.url}/messages/new/?group={group_id}", timeout=TIMEOUT)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        preview = http.post(self.url + "/messages/new/", timeout=TIMEOUT,
                            data={"csrfmiddlewaretoken": csrf, "group": group_id, "body": body, "send_at": ""})
        assert preview.status_code == 200, preview.status_code
        recipients = int(re.search(r"data-recipients>(\d+)<", preview.text).group(1))
        token = re.search(r'name="token" value="([^"]+)"', preview.text).group(1)
        sent = http.post(self.url + "/messages/new/confirm/", allow_redirects=False, timeout=TIMEOUT,
                         data={"csrfmiddlewaretoken": csrf, "token": token})
        assert sent.status_code == 302, sent.status_code
        return int(re.search(r"/messages/(\d+)/$", sent.headers["Location"]).group(1)), recipients

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
