"""The task worker of each app host, as `make cluster` starts it (scripts/cluster/task_worker.py).

- topology.json lists one `worker` per app host, and each reaches the database only through
  PgBouncer: one client connection per thread (task loop, heartbeat, scheduler), none to the
  primary or the replica (counted from the kernel's TCP table, as `ss -tnp` would).
- SIGTERM (what `make cluster-stop` sends): the text in hand is finished and recorded, the
  worker exits 0, and queue health through the balancer stops counting it at once; the other
  host's worker sends the rest, each phone exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

# One persistent connection to PgBouncer per thread of the worker (jobs/worker.py).
PGBOUNCER_CONNECTIONS = 3
ESTABLISHED = "01"


def test_it_lists_a_worker_per_app_host_reaching_the_database_only_through_pgbouncer(healthy):
    top = healthy
    listed = json.loads(top.cluster.topology_file.read_text())["components"]
    workers = {c["name"]: c for c in listed if c["role"] == "worker"}
    assert set(workers) == {"worker-app-a", "worker-app-b"}
    assert all(c["pid"] == top[name].pid and top[name].alive() for name, c in workers.items())
    by_port = {port: name for name, port in top.cluster.ports.items()} | {top.fake.port: "provider"}

    def peers(pid: int) -> Counter:
        return Counter(by_port.get(port, "other") for port in _peer_ports(pid))

    def as_budgeted() -> bool:
        return all(peers(c["pid"])["pgbouncer"] == PGBOUNCER_CONNECTIONS for c in workers.values())

    # Each thread connects on its first statement: all three have run one within a few seconds.
    procs.wait_for(as_budgeted, timeout=20, what=f"{PGBOUNCER_CONNECTIONS} PgBouncer connections per worker")
    for name, c in workers.items():
        seen = peers(c["pid"])
        assert seen["pg-primary"] == seen["pg-replica"] == 0, seen
        print(f"{name}: connections {dict(sorted(seen.items()))}")


def test_it_finishes_the_text_in_hand_on_sigterm_and_health_stops_counting_it(healthy):
    top = healthy
    admin = top.log_in(admin=True)
    assert top.queue_health(admin)["workers_seen"] == 2
    group_id, phones = top.textable_group(at_least=6)
    held = phones[0]
    held_before = top.fake.held_count  # the fake counts every request it ever held
    top.fake.hold(held, accept=True)  # the first text's provider call stays open until released
    body = f"Choir practice moves to 7pm ({uuid.uuid4().hex[:8]})"
    try:
        message_id, _ = top.send_text(top.log_in(), group_id, body)
        top.fake.wait_held(held_before + 1)
        holder = top.claimed_by(message_id, held)
        host = holder.rsplit("-", 1)[0]
        worker = top[f"worker-{host}"]
        asked = time.monotonic()
        worker.kill(signal.SIGTERM)
    finally:
        top.fake.release()
    try:
        worker.wait(timeout=30)
        stopped_in = time.monotonic() - asked
        assert worker.proc.returncode == 0, worker.proc.returncode
        counted_in = top.wait_workers_seen(admin, 1, timeout=10)
        procs.wait_for(lambda: top.settled(message_id), timeout=60, what="the other host's worker to send the rest")
    finally:
        top.restart_worker(host)  # the next test starts from both workers, whatever happened here
    rows = top.assert_each_phone_texted_once(message_id, body)
    # The text in hand was finished and recorded by the worker that was asked to stop.
    assert next((state, claimed) for phone, state, _, claimed, _ in rows if phone == held) == ("sent", holder)
    others = {claimed.rsplit("-", 1)[0] for phone, _, _, claimed, _ in rows if phone != held}
    top.wait_workers_seen(admin, 2, timeout=30)
    print(f"SIGTERM to worker-{host} in a provider call: exited 0 after {stopped_in:.2f} s with that text recorded, "
          f"queue health counted 1 worker {counted_in:.1f} s later; the {len(rows) - 1} others sent by "
          f"{sorted(others)}; {len(rows)} phones, one text each")


def _peer_ports(pid: int) -> list[int]:
    """The remote ports of the process's established TCP connections, from /proc (what
    `ss -tnp` shows, without needing it installed): its socket inodes, looked up in the kernel's
    TCP table."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            # remote address "ADDR:PORT" in hex, state 01 = ESTABLISHED, inode in column 10
            if fields[3] == ESTABLISHED and fields[9] in inodes:
                ports.append(int(fields[2].rsplit(":", 1)[1], 16))
    return ports
