"""The Redis primary killed under load: the Sentinels promote the replica, no app host restarts.

Pages answer 200 throughout (while Redis is away the circuit breaker serves from PostgreSQL),
the logged-in sessions survive (cachemon.sessions: the database has them), and the cache is
used again within seconds of the promotion (hits on the new primary). The old primary,
restarted, comes back as a replica of the new one.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.cluster import harness
from tests.cluster.conftest import FULL
from tests.ops import procs

pytestmark = [pytest.mark.slow, pytest.mark.cluster, procs.once]

# How soon after the promotion the app hosts must be using the cache again: the breaker's
# cooldown (5 s) plus one round of requests, with room for a busy machine.
CACHE_BACK_WITHIN = 30


def test_it_keeps_answering_through_a_failover_and_uses_the_new_primary(healthy):
    top = healthy
    for _ in range(2 if FULL else 1):
        old = top.redis_primary()
        new = "redis-b" if old == "redis-a" else "redis-a"
        with harness.Load(top, threads=3) as load:
            load.wait_requests(30)
            top[old].kill(signal.SIGKILL)
            killed_at = time.monotonic()
            procs.wait_for(lambda: top.redis_primary() == new, timeout=60, what=f"the Sentinels to promote {new}")
            promoted_at = time.monotonic()
            hits = top.redis(new).info("stats")["keyspace_hits"]
            procs.wait_for(lambda: top.redis(new).info("stats")["keyspace_hits"] > hits + 20,
                           timeout=CACHE_BACK_WITHIN, what=f"the app hosts to read the cache on {new}")
            back_at = time.monotonic()
            load.wait_requests(30)
        assert load.failures == [], load.report()
        # The old primary rejoins as a replica of the new one (the Sentinels reconfigure it).
        top.restart_redis(old)
        procs.wait_for(lambda: top.redis(old).info("replication")["role"] == "slave", timeout=60,
                       what=f"{old} to come back as a replica")
        print(f"Redis failover {old} -> {new}: promoted {promoted_at - killed_at:.1f} s after the kill, cache used "
              f"again {back_at - promoted_at:.1f} s after the promotion; {load.ok} requests, 0 failed, sessions kept")
