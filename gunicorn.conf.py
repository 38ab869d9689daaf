"""Gunicorn configuration for Flock: every value from the environment, sensible defaults.

    gunicorn -c gunicorn.conf.py churchapp.wsgi        # `make run` and `make deploy` do this
    kill -HUP  $(cat var/gunicorn.pid)                 # new code and config, no dropped request
    kill -TERM $(cat var/gunicorn.pid)                 # graceful stop: in-flight requests finish

`kill -HUP` re-reads this file, so changes here take effect on a reload too. The choices
(and the measurements behind them) are in docs/operations.md.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

_BASE_DIR = Path(__file__).resolve().parent
# The same var/ directory as churchapp/settings.py (pidfile, Prometheus files, control socket).
_VAR_DIR = Path(os.environ.get("FLOCK_VAR_DIR", _BASE_DIR / "var"))
_VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"gunicorn.conf.py: {name} must be a whole number; got {raw!r}")
    if value < 0:
        sys.exit(f"gunicorn.conf.py: {name} must not be negative; got {raw!r}")
    return value


# Prometheus multiprocess mode: every worker writes its samples to files here and /metrics
# sums them. Set before any worker imports prometheus_client (workers inherit the master's env).
PROMETHEUS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_VAR_DIR / "prometheus")))
# Exists before anything imports the app (`--check-config` loads it without on_starting).
PROMETHEUS_DIR.mkdir(parents=True, exist_ok=True)

# --- Sockets ----------------------------------------------------------------------------
# Loopback by default: Flock is meant to sit behind a TLS-terminating proxy on the same host.
# Set GUNICORN_BIND=0.0.0.0:8000 (or a list, comma-separated) to listen on other interfaces.
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "").split(",") if b.strip()] or [
    f"127.0.0.1:{_env_int('PORT', 8000)}"
]
backlog = _env_int("GUNICORN_BACKLOG", 2048)
# Honour X-Forwarded-Proto only from the proxy (loopback by default; the proxy's address otherwise).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- Workers ----------------------------------------------------------------------------
# One process per core, each with a few threads (gthread): measured faster than sync
# workers on this workload and it keeps connections alive; see docs/operations.md.
# 2*CPU+1 sync workers is the classic rule for I/O-bound apps; here the threads already
# cover the waits on PostgreSQL/Redis, and more processes would only multiply memory and
# database connections.
workers = _env_int("WEB_CONCURRENCY", 0) or multiprocessing.cpu_count()
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _env_int("GUNICORN_THREADS", 4)
# Recycle workers now and then (slow leaks cannot grow forever); the jitter keeps them
# from all restarting at the same moment.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# A request running longer than this is killed (the worker restarts); pages take milliseconds.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# On HUP/TERM, old workers get this long to finish the requests they have in flight.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection is kept (the proxy in front reuses them).
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Not preloaded: each worker imports the app itself, so HUP serves new code and no
# connection (database, Redis) can be opened in the master and shared by forked workers.
preload_app = False
# Worker heartbeats on tmpfs: a slow disk must never make the master kill healthy workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# --- Files and logs ---------------------------------------------------------------------
pidfile = os.environ.get("GUNICORN_PIDFILE", str(_VAR_DIR / "gunicorn.pid"))
# The runtime control socket (gunicornc), per deployment directory instead of one per user.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", str(_VAR_DIR / "gunicorn.ctl"))
# "-" is stdout/stderr (the process supervisor's log); empty turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-") or "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Request duration in milliseconds (%(M)s) on every line, for slow-page hunting.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
proc_name = "flock"


# --- One write per response -------------------------------------------------------------
def _send_headers_with_the_body() -> None:
    """Gunicorn (27.0.1) sends a response's headers and its body in two writes; between them the
    worker thread gives up the GIL, so a worker killed there leaves the balancer holding headers
    without a body, too late for it to retry the request elsewhere (tests/cluster/
    test_app_hosts.py caught one). Held back until the first body write, the headers leave with
    it in one `sendall`: a dying worker has then sent all of a page or none of it, and the
    balancer retries a GET that got nothing. Chunked responses and sendfile (static files) keep
    Gunicorn's own order; the headers are sent at close for an empty body."""
    from gunicorn.http import wsgi

    response = wsgi.Response
    if getattr(response, "_flock_one_write", False):
        return  # a HUP re-reads this file: patch once
    send_headers, emit_body, close, sendfile = (
        response.send_headers, response._emit_body, response.close, response.sendfile)

    class _Held:
        data = b""

        def sendall(self, data: bytes) -> None:
            self.data += data

    def held_send_headers(self) -> None:
        if self.headers_sent or self.chunked or getattr(self, "_flock_direct", False):
            return send_headers(self)
        held, sock = _Held(), self.sock
        self.sock = held
        try:
            send_headers(self)
        finally:
            self.sock = sock
        self._flock_headers = held.data

    def release(self) -> None:
        headers = getattr(self, "_flock_headers", b"")
        if headers:
            self._flock_headers = b""
            self.sock.sendall(headers)

    def emit_body_with_headers(self, data: bytes) -> None:
        headers = getattr(self, "_flock_headers", b"")
        if headers:
            self._flock_headers = b""
            data = headers + data
        emit_body(self, data)

    def close_after_release(self) -> None:
        release(self)
        close(self)

    def sendfile_direct(self, respiter) -> bool:
        release(self)
        self._flock_direct = True
        return sendfile(self, respiter)

    response.send_headers = held_send_headers
    response._emit_body = emit_body_with_headers
    response.close = close_after_release
    response.sendfile = sendfile_direct
    response._flock_one_write = True


_send_headers_with_the_body()


# --- Hooks ------------------------------------------------------------------------------
# cachemon's modules are imported inside the hooks: the master never imports Django or the
# app (preload_app is off), and a missing optional piece must not stop the server.


def on_starting(server) -> None:
    """Master start (not on HUP): empty the Prometheus directory of a previous run's files."""
    PROMETHEUS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        from cachemon.prometheus import prepare_multiproc_dir
    except ImportError:
        server.log.warning("cachemon.prometheus not available; /metrics files are not prepared")
        return
    prepare_multiproc_dir(str(PROMETHEUS_DIR))


def post_fork(server, worker) -> None:
    """Make sure the new worker owns every connection it will use (none inherited from the master)."""
    if "django" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.db import connections

            connections.close_all()
    pool_module = sys.modules.get("django_redis.pool")
    if pool_module is not None:
        # django-redis keeps its connection pools in a class-level registry, created lazily
        # per process; a registry copied from the master would share the master's sockets.
        pool_module.ConnectionFactory._pools.clear()


def post_worker_init(worker) -> None:
    """In the worker, app loaded: start cachemon's background flusher of cache hit/miss counts."""
    try:
        from cachemon.prometheus import on_worker_start
    except ImportError:
        return
    on_worker_start()


def child_exit(server, worker) -> None:
    """In the master: drop the dead worker's live-gauge files so /metrics stops counting them."""
    try:
        from cachemon.prometheus import mark_worker_dead
    except ImportError:
        return
    mark_worker_dead(worker.pid)


def worker_exit(server, worker) -> None:
    """In the exiting worker: push its pending cache hit/miss counts to the shared totals."""
    if "cachemon.counters" not in sys.modules:
        return  # the worker never loaded the app, so it counted nothing
    try:
        try:
            from cachemon.prometheus import on_worker_exit
        except ImportError:
            on_worker_exit = sys.modules["cachemon.counters"].flush
        on_worker_exit()
    except Exception as exc:  # the cache may be down; exiting must not fail because of it
        server.log.warning("cachemon counters not flushed on exit: %s", exc)
