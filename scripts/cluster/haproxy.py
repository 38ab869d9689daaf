"""HAProxy, the balancer in front of the two app hosts (http://127.0.0.1:${CLUSTER_PORT:-8080}).

Starts: `haproxy -db -f <cluster dir>/haproxy/haproxy.cfg` in the foreground on the balancer's
port, with an admin socket (<cluster dir>/run/haproxy.sock: `show stat`, `disable server`).
- Health: GET /readyz on each host every 2 s; 3 failures take a host out, 2 successes bring it
  back. A host counts as healthy when its database answers (the `"database": "ok"` of /readyz):
  Redis is shared by every host and the app serves from PostgreSQL without it, so a Redis
  outage must not empty the pool (it would turn a slower site into no site).
- Retries: a request that failed before any byte of a response (connection refused or reset,
  empty answer) is sent again, to the other host (`option redispatch 1`), up to 3 times. Only
  GET and HEAD are retried at layer 7: a POST the dying host may already have applied is never
  sent twice (the client gets a 502 and decides). A refused connection is retried for every
  method (nothing was sent).
- One new connection to a host per request (`http-server-close`): a request never lands on an
  idle keep-alive connection that the host closed an instant earlier.
- X-Forwarded-For (appended: the app reads the rightmost hop, members/login.py client_ip) and
  X-Forwarded-Proto (http here; https where a TLS terminator sits in front).
Stopped by: SIGUSR1 to its pid (soft stop: stops listening, lets requests in flight finish),
SIGKILL after 15 s.
"""

from __future__ import annotations

import socket

import requests

from topology import APP_HOSTS, HOST, Cluster, Component, spawn, wait_for


def config(cluster: Cluster) -> str:
    servers = "\n".join(f"    server {name} {HOST}:{cluster.ports[name]} check" for name in APP_HOSTS)
    return f"""\
# Written by scripts/cluster/haproxy.py at every start: edit that file, not this one.
global
    log stdout format raw local0 info
    stats socket {cluster.run_dir / 'haproxy.sock'} mode 600 level admin
    maxconn 2000

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout queue 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response
    option http-server-close
    option forwardfor

frontend flock
    bind {HOST}:{cluster.balancer_port}
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    # METH_GET is GET and HEAD: only those are retried after the request was sent.
    http-request disable-l7-retry if !METH_GET
    default_backend app_hosts

backend app_hosts
    balance roundrobin
    option httpchk
    # The probe says it came over TLS, as every request through the balancer does in production
    # (DJANGO_ENV=production would otherwise redirect this plain-HTTP probe to https://).
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host {HOST} hdr X-Forwarded-Proto https
    http-check expect rstring "\\"database\\": \\"ok\\""
    default-server inter 2s fall 3 rise 2
{servers}
"""


def admin(cluster: Cluster, command: str) -> str:
    """One command on HAProxy's admin socket (`show stat`, `show servers state`...)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(cluster.run_dir / "haproxy.sock"))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_states(cluster: Cluster) -> dict[str, str]:
    """{"app-a": "UP", "app-b": "DOWN", ...} from `show stat`."""
    lines = admin(cluster, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    states = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "app_hosts" and row.get("svname") in APP_HOSTS:
            states[row["svname"]] = row["status"].split()[0]
    return states


def start(cluster: Cluster) -> Component:
    home = cluster.dir / "haproxy"
    home.mkdir(parents=True, exist_ok=True)
    cluster.run_dir.mkdir(parents=True, exist_ok=True)
    cfg = home / "haproxy.cfg"
    cfg.write_text(config(cluster))
    log = cluster.dir / "logs" / "haproxy.log"
    proc = spawn(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], log=log)
    port = cluster.balancer_port
    wait_for(lambda: set(server_states(cluster).values()) == {"UP"}, timeout=60,
             what="HAProxy to see both app hosts up", proc=proc, log=log)
    wait_for(lambda: requests.get(f"http://{HOST}:{port}/healthz", timeout=2).status_code == 200, timeout=30,
             what=f"the balancer on {port}", proc=proc, log=log)
    return Component(name="balancer", role="balancer", port=port, pid=proc.pid, log=str(log), program="haproxy",
                     stop_signal="SIGUSR1", stop_timeout=15, proc=proc)
