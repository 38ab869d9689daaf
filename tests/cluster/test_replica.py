"""The streaming replica: used when it has caught up, never a reason for a stale page or an error.

- Healthy: the export, a dashboard miss and the admin's statistics are served by the replica.
- Replay paused (`pg_wal_replay_pause()`): a staff member who adds a member sees them at once in
  the member list and in the dashboard's total (those reads go to the primary).
- Stopped: every page answers (the lag-tolerant reads fall back to the primary); restarted, it
  is used again by itself.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.cluster import harness
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

READS = "flock_replica_reads_total"


def _served(top: harness.Topology, read: str, by: str) -> float:
    return top.metric(READS, read=read, served_by=by)


def _export(top: harness.Topology, http: requests.Session) -> None:
    r = http.get(top.url + "/members/export.csv", timeout=harness.TIMEOUT)
    assert r.status_code == 200 and r.text.startswith("\ufefffirst_name,last_name"), r.status_code


def test_it_serves_the_export_the_admins_statistics_and_dashboard_misses_from_the_replica(healthy):
    top = healthy
    http = top.log_in()
    before = _served(top, "export", "replica")
    _export(top, http)
    assert _served(top, "export", "replica") == before + 1
    before = _served(top, "admin_stats", "replica")
    page = top.log_in(admin=True).get(top.url + "/admin/stats/", timeout=harness.TIMEOUT)
    assert page.status_code == 200 and "data-church=" in page.text
    assert _served(top, "admin_stats", "replica") == before + 1
    # A dashboard miss right after a write: the replica must first replay that write (it
    # waits up to REPLICA_CATCHUP_WAIT). A loaded machine may make it miss that once in a while.
    before = _served(top, "dashboard", "replica")
    for i in range(5):
        assert top.add_member(http, "Rhea", f"Replica{i}").status_code == 302
        total = top.stat(http, "members_total")
        if _served(top, "dashboard", "replica") > before:
            break
    else:
        raise AssertionError("5 dashboard misses in a row were not served by the replica")
    # And it shows the write it followed.
    assert total == top.sql("pg-primary", "SELECT sum(total) FROM members_membertally t JOIN members_user u "
                                          "ON u.church_id = t.church_id WHERE u.username = %s", (top.staff,))[0][0]


def test_it_reads_your_writes_while_replay_is_paused(healthy):
    top = healthy
    http = top.log_in()
    top.sql("pg-replica", "SELECT pg_wal_replay_pause()")
    try:
        total = top.stat(http, "members_total")
        replica_before = _served(top, "dashboard", "replica")
        for i in range(3):
            name = f"Paused{uuid.uuid4().hex[:8]}"
            assert top.add_member(http, "Pia", name).status_code == 302
            listed = http.get(top.url + f"/members/?q={name}", timeout=harness.TIMEOUT)
            assert listed.status_code == 200 and name in listed.text, f"{name} not in the member list"
            assert top.stat(http, "members_total") == total + i + 1, "the dashboard's total missed the write"
            assert top.sql("pg-replica", "SELECT count(*) FROM members_member WHERE last_name = %s", (name,)) == [(0,)]
        # Those dashboard misses could not use the replica: it had not replayed the writes.
        assert _served(top, "dashboard", "replica") == replica_before
    finally:
        top.sql("pg-replica", "SELECT pg_wal_replay_resume()")


def test_it_answers_every_page_with_the_replica_stopped_and_uses_it_again(healthy):
    top = healthy
    http = top.log_in()
    paths = ("/dashboard/", "/members/export.csv", "/members/", "/groups/")
    with harness.Load(top, paths=paths, threads=2) as load:
        load.wait_requests(20)
        top["pg-replica"].stop()
        for i in range(3):  # dashboard misses while the replica is away
            assert top.add_member(http, "Sam", f"Stopped{i}").status_code == 302
            load.wait_requests(10)
        top.restart_replica()
        load.wait_requests(10)
    assert load.failures == [], load.report()
    assert top.metric(READS, served_by="primary", reason="down") > 0
    # Back: once REPLICA_RETRY_SECONDS have passed, each host uses it again.
    before = _served(top, "export", "replica")
    procs.wait_for(lambda: _export(top, http) or _served(top, "export", "replica") > before, timeout=60,
                   what="an export served by the restarted replica")
    print(f"replica stopped: {load.ok} requests, 0 failed")
