"""Texts through the cluster: a staff member confirms a text through the balancer, both hosts'
workers share its deliveries, and each phone gets exactly one text (the fake Twilio of this test
process, on 127.0.0.1), through these faults:

- SIGKILL to one host's worker in the middle of a provider call, mid-batch: queue health through
  the balancer says `workers_seen` 2, then 1 once the dead worker's heartbeat is WORKER_DEAD_SECONDS
  old; the other host's sweep re-queues its claim for reconciliation and that host's worker finds
  the text at the provider (not sent again) and sends the rest.
- PgBouncer restarted while a worker is inside a provider call: the answer cannot be recorded
  (its connection is gone), the worker survives (same process, heartbeats resume), records the
  task's outcome once PgBouncer is back, and the sweep takes the stale claim back after
  `claim_lifetime()`; reconciliation finds the text: still one each.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.cluster import harness
from tests.cluster.conftest import FULL
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

ROUNDS = 2 if FULL else 1
SETTLE = 90  # seconds a fault may take to settle on a busy 2-core machine (it takes ~10)
TASKS = "django_tasks_database_dbtaskresult"


def test_it_texts_each_phone_once_when_a_hosts_worker_is_killed_mid_batch(healthy):
    top = healthy
    admin = top.log_in(admin=True)
    staff = top.log_in()
    group_id, phones = top.textable_group(at_least=12)
    for round_ in range(ROUNDS):
        assert top.queue_health(admin)["workers_seen"] == 2
        body = f"Service times change on Sunday ({uuid.uuid4().hex[:8]})"
        # The first two texts are held inside their provider calls (the provider takes them): a
        # worker is in one call at a time, so both workers are then in the middle of the message.
        first, second = phones[:2]
        held_before = top.fake.held_count  # the fake counts every request it ever held
        top.fake.hold(first, accept=True)
        top.fake.hold(second, accept=True)
        try:
            message_id, recipients = top.send_text(staff, group_id, body)
            top.fake.wait_held(held_before + 2)
            holders = {phone: top.claimed_by(message_id, phone) for phone in (first, second)}
            hosts = {worker_id.rsplit("-", 1)[0] for worker_id in holders.values()}
            assert hosts == {"app-a", "app-b"}, holders  # the deliveries are shared by both hosts
            victim = ("app-a", "app-b")[round_ % 2]
            victim_phone = next(p for p, w in holders.items() if w.startswith(victim + "-"))
            searches_before = _searches(top, victim_phone)
            top[f"worker-{victim}"].kill(signal.SIGKILL)
            killed_at = time.monotonic()
            top[f"worker-{victim}"].wait(timeout=10)
        finally:
            top.fake.release()
        try:
            top.wait_workers_seen(admin, 1, timeout=SETTLE)
            unseen_after = time.monotonic() - killed_at
            procs.wait_for(lambda: top.settled(message_id), timeout=SETTLE, what="the survivor to settle the message")
            settled_after = time.monotonic() - killed_at
        finally:
            top.restart_worker(victim)  # the next test starts from both workers, whatever happened here
        rows = top.assert_each_phone_texted_once(message_id, body)
        assert len(rows) == recipients
        # The killed worker's text was found at the provider by the survivor, not sent again:
        # one attempt, one search of the provider's list.
        survivor = "app-b" if victim == "app-a" else "app-a"
        attempts, claimed = next((a, c) for phone, _, a, c, _ in rows if phone == victim_phone)
        assert (attempts, claimed.rsplit("-", 1)[0]) == (1, survivor)
        assert _searches(top, victim_phone) - searches_before == 1
        top.wait_workers_seen(admin, 2, timeout=SETTLE)
        print(f"SIGKILL worker-{victim} mid-call: workers_seen 2 -> 1 after {unseen_after:.1f} s, message of "
              f"{recipients} settled {settled_after:.1f} s after the kill; each phone 1 text, the killed call's text "
              f"reconciled by {survivor} (1 attempt, 1 provider search)")


def test_it_texts_each_phone_once_through_a_pgbouncer_restart_mid_call(healthy):
    top = healthy
    staff = top.log_in()
    group_id, phones = top.textable_group(at_least=12)
    pids = {host: top[f"worker-{host}"].pid for host in ("app-a", "app-b")}
    body = f"Potluck after the service ({uuid.uuid4().hex[:8]})"
    held = phones[3]
    held_before = top.fake.held_count  # the fake counts every request it ever held
    top.fake.hold(held, accept=True)
    try:
        message_id, recipients = top.send_text(staff, group_id, body)
        top.fake.wait_held(held_before + 1)
        holder = top.claimed_by(message_id, held)
        restarted_at = time.monotonic()
        top["pgbouncer"].stop()
        top.restart_pgbouncer()
    finally:
        top.fake.release()  # the answer comes back to a worker whose connection is gone
    procs.wait_for(lambda: top.settled(message_id), timeout=SETTLE, what="the message to be settled after the restart")
    settled_after = time.monotonic() - restarted_at
    rows = top.assert_each_phone_texted_once(message_id, body)
    assert len(rows) == recipients
    assert next(attempts for phone, _, attempts, *_ in rows if phone == held) == 1  # reconciled, not sent again
    # Both workers outlived it: the same processes, beating again.
    assert all(top[f"worker-{host}"].pid == pid and top[f"worker-{host}"].alive() for host, pid in pids.items())
    ids = {top.worker_id(host) for host in pids}
    procs.wait_for(lambda: ids <= top.workers_alive(), timeout=30, what="both workers beating after the restart")
    # The holder's task is not left RUNNING under a live worker (nobody would re-queue it).
    running = top.sql("pg-primary", f"SELECT count(*) FROM {TASKS} WHERE status = 'RUNNING' "
                                    "AND worker_ids ->> -1 = %s", (holder,))[0][0]
    assert running == 0
    print(f"PgBouncer restart while {holder} was in a provider call: both workers survived, the message of "
          f"{recipients} settled {settled_after:.1f} s later, each phone 1 text (the held one reconciled)")


def _searches(top: harness.Topology, phone: str) -> int:
    """Searches of the provider's list for texts to `phone` (reconciliations)."""
    with top.fake.lock:
        return sum(1 for method, _, query in top.fake.requests if method == "GET" and query.get("To") == [phone])
