"""PostgreSQL 15: the primary, and one streaming replica made from it with `pg_basebackup -R`.

Starts: two private clusters (data in <cluster dir>/pg-primary and pg-replica, created once by
`initdb` and `pg_basebackup` as the postgres OS user, then reused), each `postgres -D <data>` in
the foreground as the postgres user on its own 127.0.0.1 port; the machine's own PostgreSQL
(5432) is never touched. The primary holds the `flock` database.
Stopped by: SIGINT to the postmaster's pid (PostgreSQL's "fast" shutdown: open sessions are
cut, everything committed is kept), SIGKILL after 30 s.
"""

from __future__ import annotations

import psycopg

from topology import DATABASE, HOST, PG_BIN, Cluster, Component, as_postgres_dir, run, spawn, wait_for

# The settings both servers run with (command-line `-c`, so that this file says all of them).
COMMON = {
    "listen_addresses": HOST,
    # Django sets no time zone of its own when the server's matches TIME_ZONE (UTC): no
    # session state for PgBouncer to carry between clients.
    "timezone": "UTC",
    # Django cannot send `-c jit=off` through PgBouncer; short OLTP queries never gain from it.
    "jit": "off",
    "max_connections": "100",
    # The budget in docs/scale-out.md: PgBouncer's pool (20 + 5 reserve) plus direct
    # connections (migrations, the replica's readers) fit well inside 100.
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
}
PRIMARY = {
    "wal_level": "replica",
    "max_wal_senders": "5",
    # WAL kept for a replica that was stopped for a while (no slot: a replica gone for good
    # must not fill the primary's disk).
    "wal_keep_size": "512MB",
}
REPLICA = {
    "hot_standby": "on",
    # The primary keeps the rows a long replica read still needs (no "conflict with recovery"
    # for an export), and replay waits at most this long for a conflicting query.
    "hot_standby_feedback": "on",
    "max_standby_streaming_delay": "30s",
    # Replies as soon as it has replayed, so the primary's view of the lag is current too.
    "wal_receiver_status_interval": "1s",
}


def _postgres(cluster: Cluster, name: str, data, settings: dict[str, str]) -> Component:
    opts = {**COMMON, **settings, "port": str(cluster.ports[name]),
            "unix_socket_directories": str(as_postgres_dir(cluster.run_dir)),
            "fsync": "on" if cluster.fsync else "off"}
    if not cluster.fsync:
        # synchronous_commit stays on: a commit is flushed before COMMIT returns, which is
        # what the replica's reads wait for (replica/health.py).
        opts.update(full_page_writes="off")
    data.chmod(0o700)  # PostgreSQL refuses a data directory others can read
    cmd = [str(PG_BIN / "postgres"), "-D", str(data)]
    for key, value in opts.items():
        cmd += ["-c", f"{key}={value}"]
    log = cluster.dir / "logs" / f"{name}.log"
    proc = spawn(cmd, log=log, user="postgres", cwd=data)
    port = cluster.ports[name]
    wait_for(lambda: _answers(port), timeout=60, what=f"PostgreSQL {name} on {port}", proc=proc, log=log)
    role = "postgres-primary" if name == "pg-primary" else "postgres-replica"
    return Component(name=name, role=role, port=port, pid=proc.pid, log=str(log), program="postgres",
                     stop_signal="SIGINT", stop_timeout=30, proc=proc)


def _answers(port: int, dbname: str = "postgres") -> bool:
    psycopg.connect(host=HOST, port=port, user="postgres", dbname=dbname, connect_timeout=2).close()
    return True


def start_primary(cluster: Cluster) -> Component:
    data = cluster.dir / "pg-primary"
    if not (data / "PG_VERSION").exists():
        as_postgres_dir(data)
        run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", *([] if cluster.fsync else ["--no-sync"])], user="postgres")
    component = _postgres(cluster, "pg-primary", data, PRIMARY)
    with psycopg.connect(host=HOST, port=component.port, user="postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return component


def start_replica(cluster: Cluster) -> Component:
    """The replica: a base backup of the running primary the first time, then streaming."""
    data = cluster.dir / "pg-replica"
    if not (data / "PG_VERSION").exists():
        as_postgres_dir(data)
        # -R writes standby.signal and primary_conninfo: it starts as a streaming replica.
        run([str(PG_BIN / "pg_basebackup"), "-h", HOST, "-p", str(cluster.ports["pg-primary"]), "-U", "postgres",
             "-D", str(data), "-R", "-X", "stream", "-c", "fast", *([] if cluster.fsync else ["--no-sync"])],
            user="postgres")
    component = _postgres(cluster, "pg-replica", data, REPLICA)
    wait_for(lambda: _in_recovery(component.port), timeout=30, what="the replica to be in recovery")
    return component


def _in_recovery(port: int) -> bool:
    with psycopg.connect(host=HOST, port=port, user="postgres", dbname="postgres", connect_timeout=2) as conn:
        return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])


def start(cluster: Cluster) -> list[Component]:
    primary = start_primary(cluster)
    return [primary, start_replica(cluster)]
