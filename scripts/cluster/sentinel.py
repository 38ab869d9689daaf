"""Three Redis Sentinels watching the Redis primary under the name `flock`.

Starts: `redis-server <cluster dir>/redis/sentinel-N.conf --sentinel` for N = 1..3, in the
foreground on their 127.0.0.1 ports. Two of the three must agree that the primary is down
(`down-after-milliseconds`, 2 s for `make cluster`) before one of them promotes the replica;
the app hosts ask them where the primary is (REDIS_SENTINELS, REDIS_SENTINEL_MASTER), so a
failover needs no restart. Sentinels rewrite their own files: written afresh at every start.
Stopped by: SIGTERM to each pid, SIGKILL after 10 s.
"""

from __future__ import annotations

import redis

from topology import HOST, SENTINEL_MASTER, SENTINELS, Cluster, Component, spawn, wait_for

QUORUM = 2


def config(cluster: Cluster, name: str) -> str:
    return "\n".join([
        "# Written by scripts/cluster/sentinel.py at every start; Sentinel rewrites it as it learns.",
        f"port {cluster.ports[name]}",
        f"bind {HOST}",
        "daemonize no",
        'logfile ""',
        f"dir {cluster.dir / 'redis'}",
        "sentinel resolve-hostnames no",
        f"sentinel monitor {SENTINEL_MASTER} {HOST} {cluster.ports['redis-a']} {QUORUM}",
        f"sentinel down-after-milliseconds {SENTINEL_MASTER} {cluster.sentinel_down_after_ms}",
        f"sentinel failover-timeout {SENTINEL_MASTER} 10000",
        f"sentinel parallel-syncs {SENTINEL_MASTER} 1",
    ]) + "\n"


def client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


def master_port(port: int) -> int:
    """The primary's port as this Sentinel sees it now."""
    host, master = client(port).sentinel_get_master_addr_by_name(SENTINEL_MASTER)
    return int(master)


def start_one(cluster: Cluster, name: str) -> Component:
    home = cluster.dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / f"{name}.conf"
    conf.write_text(config(cluster, name))
    log = cluster.dir / "logs" / f"{name}.log"
    proc = spawn(["/usr/bin/redis-server", str(conf), "--sentinel"], log=log)
    port = cluster.ports[name]
    wait_for(lambda: client(port).ping(), timeout=20, what=f"Sentinel {name} on {port}", proc=proc, log=log)
    return Component(name=name, role="sentinel", port=port, pid=proc.pid, log=str(log), program="redis-server",
                     stop_signal="SIGTERM", stop_timeout=10, proc=proc)


def wait_ready(components: list[Component]) -> None:
    """Each must know the replica and the other two before a failover can be agreed on."""
    for c in components:
        wait_for(lambda: _ready(c.port), timeout=30, what=f"{c.name} to see the replica and the other Sentinels")


def start(cluster: Cluster) -> list[Component]:
    components = [start_one(cluster, name) for name in SENTINELS]
    wait_ready(components)
    return components


def _ready(port: int) -> bool:
    state = client(port).sentinel_master(SENTINEL_MASTER)
    return int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= len(SENTINELS) - 1
