"""Redis: a primary (redis-a) and its replica (redis-b), for the cache and the sessions.

Starts: `redis-server <cluster dir>/redis/<name>.conf` for each, in the foreground, on their
127.0.0.1 ports; redis-b replicates redis-a. The Sentinels (sentinel.py) decide later who is
primary: after a failover they rewrite these files (`replicaof`), so a restarted old primary
comes back as a replica. Written afresh at every `make cluster`: the cache starts empty (the
sessions are in PostgreSQL too, cachemon.sessions), nothing is saved to disk.
Stopped by: SIGTERM to each pid (Redis shuts down at once, no save), SIGKILL after 10 s.
"""

from __future__ import annotations

import redis

from topology import HOST, Cluster, Component, spawn, wait_for


def config(cluster: Cluster, name: str, *, replica_of: str | None) -> str:
    lines = [
        "# Written by scripts/cluster/redis_server.py at `make cluster`; the Sentinels may rewrite it.",
        f"port {cluster.ports[name]}",
        f"bind {HOST}",
        "daemonize no",
        'logfile ""',
        f"dir {cluster.dir / 'redis'}",
        f"dbfilename {name}.rdb",
        # A cache: nothing is written to disk (a replica resyncs from the primary's memory).
        'save ""',
        "appendonly no",
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        "maxmemory 256mb",
        "maxmemory-policy allkeys-lru",
    ]
    if replica_of:
        lines.append(f"replicaof {HOST} {cluster.ports[replica_of]}")
    return "\n".join(lines) + "\n"


def start_one(cluster: Cluster, name: str, replica_of: str | None = None, *, fresh: bool = True) -> Component:
    home = cluster.dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / f"{name}.conf"
    if fresh or not conf.exists():
        conf.write_text(config(cluster, name, replica_of=replica_of))
    log = cluster.dir / "logs" / f"{name}.log"
    proc = spawn(["/usr/bin/redis-server", str(conf)], log=log)
    port = cluster.ports[name]
    wait_for(lambda: _client(port).ping(), timeout=20, what=f"Redis {name} on {port}", proc=proc, log=log)
    role = "redis-replica" if replica_of else "redis-primary"
    return Component(name=name, role=role, port=port, pid=proc.pid, log=str(log), program="redis-server",
                     stop_signal="SIGTERM", stop_timeout=10, proc=proc)


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2)


def wait_replicating(replica: Component) -> None:
    wait_for(lambda: _client(replica.port).info("replication").get("master_link_status") == "up",
             timeout=30, what=f"{replica.name} to replicate the primary")


def start(cluster: Cluster) -> list[Component]:
    primary = start_one(cluster, "redis-a")
    replica = start_one(cluster, "redis-b", replica_of="redis-a")
    wait_replicating(replica)
    return [primary, replica]
