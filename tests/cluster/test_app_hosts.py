"""App hosts dying and reloading behind HAProxy, under a bounded load of logged-in staff GETs.

- SIGKILL to one host's Gunicorn master and workers: 0 failed GETs at the balancer (a request
  that got no answer is retried on the other host); POSTs in flight fail with an error the
  client sees, and none is applied twice; the host restarted rejoins and serves again.
- A rolling reload (HUP one host, wait for its new workers, then the other): 0 failures.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid

import pytest
import requests

from tests.cluster import harness
from tests.cluster.conftest import FULL
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

ROUNDS = 2 if FULL else 1


class PostLoop:
    """One staff session adding members with unique names through the balancer until stopped."""

    def __init__(self, top: harness.Topology, limit: int) -> None:
        self.top, self.limit = top, limit
        self.tag = uuid.uuid4().hex[:8]
        self.outcomes: dict[str, str] = {}  # last name -> "created" or the error the client saw
        self._stop = threading.Event()
        self._http = top.log_in()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self.limit):
            if self._stop.is_set():
                return
            last = f"Post{self.tag}n{i:04d}"
            try:
                r = self.top.add_member(self._http, "Ada", last)
                self.outcomes[last] = "created" if r.status_code == 302 else f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                self.outcomes[last] = type(exc).__name__

    def __enter__(self) -> PostLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=harness.TIMEOUT * 3)

    def rows_by_name(self) -> dict[str, int]:
        rows = self.top.sql("pg-primary", "SELECT last_name, count(*) FROM members_member "
                                          "WHERE last_name LIKE %s GROUP BY last_name", (f"Post{self.tag}n%",))
        return dict(rows)


def test_it_serves_every_get_while_a_host_is_killed_and_rejoins(healthy):
    top = healthy
    for victim in ("app-a", "app-b")[:ROUNDS]:
        with harness.Load(top, threads=3) as load, PostLoop(top, limit=1500) as posts:
            load.wait_requests(30)
            top[victim].kill(signal.SIGKILL)  # the master and every worker: its process group
            top[victim].wait(timeout=10)
            procs.wait_for(lambda: top.balancer_states()[victim] == "DOWN", timeout=30,
                           what=f"HAProxy to take {victim} out")
            load.wait_requests(30)  # served by the other host alone
            top.restart_app(victim)
            procs.wait_for(lambda: top.balancer_states()[victim] == "UP", timeout=30, what=f"{victim} back in")
            served_before = _served_by(top, victim)
            load.wait_requests(30)
            procs.wait_for(lambda: _served_by(top, victim) > served_before, timeout=30,
                           what=f"{victim} to serve again")
        assert load.failures == [], load.report()
        assert load.ok >= 90
        # POSTs: each was applied at most once; every one the client saw succeed, exactly once.
        rows = posts.rows_by_name()
        assert all(n == 1 for n in rows.values()), {k: n for k, n in rows.items() if n != 1}
        created = {name for name, outcome in posts.outcomes.items() if outcome == "created"}
        assert created <= set(rows), created - set(rows)
        failed = {name: outcome for name, outcome in posts.outcomes.items() if outcome != "created"}
        # A failed POST is an error the client sees (the balancer's 502/503, or a cut
        # connection), never a page that looks like success.
        assert all(o.startswith("HTTP 5") or not o.startswith("HTTP") for o in failed.values()), failed
        print(f"kill {victim}: {load.ok} GETs, 0 failed; {len(posts.outcomes)} POSTs: {len(created)} created, "
              f"{len(failed)} failed cleanly ({sorted(set(failed.values()))}), "
              f"{len(set(rows) - created)} of those applied once; none twice")


def test_it_drops_nothing_in_a_rolling_reload(healthy):
    top = healthy
    with harness.Load(top, threads=3) as load:
        load.wait_requests(30)
        for _ in range(ROUNDS):
            for name in ("app-a", "app-b"):
                old = _workers(top[name].pid)
                top[name].kill(signal.SIGHUP)
                # The next host only once this one serves from its new workers alone.
                procs.wait_for(lambda: (w := _workers(top[name].pid)) and w.isdisjoint(old), timeout=90,
                               what=f"{name}'s old workers to be replaced")
                procs.wait_for(lambda: requests.get(top.host_url(name) + "/readyz", timeout=5).ok,
                               timeout=30, what=f"{name} ready after the reload")
                load.wait_requests(20)
    assert load.failures == [], load.report()
    print(f"rolling HUP x{ROUNDS}: {load.ok} requests, 0 failed")


def _workers(master_pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _served_by(top: harness.Topology, name: str) -> int:
    """Requests HAProxy has sent to that host (its `stot` in `show stat`)."""
    lines = harness.haproxy.admin(top.cluster, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "app_hosts" and row.get("svname") == name:
            return int(row["stot"])
    raise AssertionError(f"{name} not in HAProxy's stats")
