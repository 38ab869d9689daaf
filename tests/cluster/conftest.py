"""One private topology (tests/cluster/harness.py) for all the fault tests of a run.

Skipped, loudly, only where the Debian packages are missing (or not root) and CI is not set;
under CI=true a missing piece fails the run (.ci/run installs the packages). It brings its own
servers, so it runs once: in the embedded pass of `make test` (a short version) and in
`make test-cluster` (CLUSTER_FULL=1: more load, more rounds).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.cluster import harness
from tests.messaging.fake_twilio import FakeTwilio

FULL = os.environ.get("CLUSTER_FULL") == "1"
# What the fault tests need the hosts to do differently from `make cluster`: a per-address
# login limit small enough to test (test_forwarded_for.py), with a short window.
# A replica that has to replay a write may take longer than the default wait on a busy
# 2-core machine; the tests are about what it serves, not how soon.
APP_ENV = {
    "LOGIN_FAILURE_LIMIT_PER_IP": "3", "LOGIN_FAILURE_WINDOW": "60", "REPLICA_CATCHUP_WAIT": "0.5",
    # The workers (test_workers.py, test_texts.py): a killed one is dead after 5 s of silence
    # (a heartbeat a second), and its work is settled by the sweep, which runs every 2 s.
    "WORKER_HEARTBEAT_SECONDS": "1", "WORKER_DEAD_SECONDS": "5", "WORKER_POLL_SECONDS": "0.2",
    "SMS_SWEEP_SECONDS": "2",
    # Every other periodic job on a period of seconds (test_periodic_jobs.py), so that a short
    # test sees each of them run in many periods, across both schedulers and a SIGKILL.
    "PERIODIC_EVERY": "jobs.housekeeping=3,members.tally_check=4,members.clear_sessions=5",
    # Texts go to the fake Twilio of this test process (the `fake` fixture), fast enough that a
    # message of a group is shared by both workers within seconds.
    "SMS_RATE_PER_SECOND": "20", "SMS_PROVIDER_TIMEOUT": "3", "SMS_RETRY_BASE_SECONDS": "0.2",
    "SMS_RETRY_MAX_SECONDS": "1",
    # The tests poll queue health (twice a second) through the admin API, which is rate-limited.
    "ADMIN_API_RATE_PER_MINUTE": "600",
}


def why_not() -> str:
    missing = harness.topology.missing_packages()
    if missing:
        return (f"the Debian packages {', '.join(missing)} are not installed (`make cluster` installs them "
                "when run as root, and .ci/run does in CI)")
    if os.geteuid() != 0:
        return "needs root (PostgreSQL and PgBouncer run as the postgres OS user)"
    return ""


@pytest.fixture(scope="session")
def top(request):
    reason = why_not()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the cluster tests cannot run: {reason}")
    if reason:
        pytest.skip(f"!! CLUSTER FAULT TESTS NOT RUN: {reason}")
    directory = Path(tempfile.mkdtemp(prefix="flock-cluster-"))
    directory.chmod(0o755)  # the postgres OS user runs PostgreSQL and PgBouncer in here
    fake = FakeTwilio().start()
    sms = {"SMS_BACKEND": "twilio", "TWILIO_API_BASE": fake.url, "TWILIO_ACCOUNT_SID": fake.sid,
           "TWILIO_AUTH_TOKEN": fake.token, "TWILIO_FROM": "+15005550006"}
    try:
        topology = harness.start(directory, app_env={**APP_ENV, **sms})
    except BaseException:
        fake.stop()
        raise
    topology.fake = fake
    try:
        yield topology
    finally:
        topology.stop_all()
        fake.stop()
        if request.session.testsfailed:
            print(f"\ncluster tests failed: the topology's logs are kept in {directory / 'logs'}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def healthy(top):
    """Each test starts from a whole topology (the previous one restored what it broke)."""
    top.wait_healthy()
    return top
