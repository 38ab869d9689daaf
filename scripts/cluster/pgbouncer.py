"""PgBouncer in transaction pooling mode between the app hosts and the PostgreSQL primary.

Starts: `pgbouncer <cluster dir>/pgbouncer/pgbouncer.ini` in the foreground as the postgres OS
user (PgBouncer refuses to run as root) on its 127.0.0.1 port, serving the database `flock` of
the primary. The app hosts connect here (DATABASE_URL, with DB_PGBOUNCER=on); migrations,
seeding and the replica's readers connect to PostgreSQL directly.
Stopped by: SIGTERM to its pid (immediate shutdown: client connections are closed; the app
hosts reconnect by themselves, CONN_HEALTH_CHECKS), SIGKILL after 10 s.
"""

from __future__ import annotations

import psycopg

from topology import DATABASE, HOST, Cluster, Component, as_postgres_dir, spawn, wait_for

# The budget (docs/scale-out.md): at most this many server connections to the primary, shared
# by every client connection of every app host (hosts x workers x threads, up to MAX_CLIENTS).
POOL_SIZE = 20
RESERVE = 5
MAX_CLIENTS = 400


def config(cluster: Cluster) -> str:
    return f"""\
;; Written by scripts/cluster/pgbouncer.py at every start: edit that file, not this one.
[databases]
{DATABASE} = host={HOST} port={cluster.ports['pg-primary']} dbname={DATABASE}

[pgbouncer]
listen_addr = {HOST}
listen_port = {cluster.ports['pgbouncer']}
unix_socket_dir =
auth_type = trust
auth_file = {cluster.dir / 'pgbouncer' / 'userlist.txt'}
admin_users = postgres
stats_users = postgres
;; A server connection belongs to a client for one transaction only.
pool_mode = transaction
default_pool_size = {POOL_SIZE}
reserve_pool_size = {RESERVE}
reserve_pool_timeout = 2
max_client_conn = {MAX_CLIENTS}
;; A client waiting this long for a server connection gets an error instead of hanging.
query_wait_timeout = 15
server_connect_timeout = 3
;; After the primary restarts, try again within a second (the default waits 15 s).
server_login_retry = 1
server_check_delay = 10
;; psycopg sends none of the other parameters; JIT is off on the server itself.
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
"""


def start(cluster: Cluster) -> Component:
    home = as_postgres_dir(cluster.dir / "pgbouncer")
    (home / "pgbouncer.ini").write_text(config(cluster))
    (home / "userlist.txt").write_text('"postgres" ""\n')
    log = cluster.dir / "logs" / "pgbouncer.log"
    proc = spawn(["/usr/sbin/pgbouncer", str(home / "pgbouncer.ini")], log=log, user="postgres", cwd=home)
    port = cluster.ports["pgbouncer"]
    wait_for(lambda: _answers(port), timeout=30, what=f"PgBouncer on {port}", proc=proc, log=log)
    return Component(name="pgbouncer", role="pgbouncer", port=port, pid=proc.pid, log=str(log), program="pgbouncer",
                     stop_signal="SIGTERM", stop_timeout=10, proc=proc)


def _answers(port: int) -> bool:
    with psycopg.connect(host=HOST, port=port, user="postgres", dbname=DATABASE, connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return True
