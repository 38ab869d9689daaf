"""Sessions survive app restarts, Redis flushes and restarts, and work while Redis is down.

Real Gunicorn processes against a private Redis (started here, on a free port) and a private
copy of a migrated SQLite database. Sessions are `cached_db`: Redis in front, the database behind.
"""

import time

import pytest

from tests.ops import procs

pytestmark = [pytest.mark.slow, procs.once]


def start_app(app_env, redis_url, **kw):
    return procs.Gunicorn({**app_env, "REDIS_URL": redis_url}, **kw).start()


def test_it_keeps_the_user_logged_in_across_an_app_restart(app_env):
    with procs.RedisServer() as redis:
        app = start_app(app_env, redis.url, workers=1)
        try:
            http = procs.log_in(app.url)
            assert procs.logged_in(http, app.url)
        finally:
            app.stop()
        # A new master and new workers (new code, new process memory), same port.
        with procs.Gunicorn({**app_env, "REDIS_URL": redis.url}, workers=1, port=app.port):
            assert procs.logged_in(http, app.url)


def test_it_keeps_the_user_logged_in_across_a_redis_flushall_and_restart(app_env):
    with procs.RedisServer() as redis, procs.Gunicorn({**app_env, "REDIS_URL": redis.url}, workers=1) as app:
        http = procs.log_in(app.url)
        assert redis.client().dbsize() > 0  # the session (among others) is in Redis
        redis.client().flushall()
        assert procs.logged_in(http, app.url)

        redis.stop()
        redis.start()  # same port, empty
        procs.wait_for(lambda: procs.logged_in(http, app.url), timeout=15, what="the app to use the new Redis")
        assert procs.logged_in(http, app.url)


def test_it_logs_in_and_serves_pages_while_redis_is_down(app_env):
    with procs.RedisServer() as redis, procs.Gunicorn({**app_env, "REDIS_URL": redis.url}, workers=1) as app:
        redis.stop()
        started = time.monotonic()
        http = procs.log_in(app.url)  # every request has procs.TIMEOUT seconds, or the test fails
        assert procs.logged_in(http, app.url)
        staff = procs.log_in(app.url, "alice", next_url="/members/")
        r = staff.get(app.url + "/members/", allow_redirects=False, timeout=procs.TIMEOUT)
        assert r.status_code == 200
        # Seconds, not a hang per Redis call: short socket timeouts plus the breaker.
        print(f"login + pages with Redis down took {time.monotonic() - started:.2f}s")


def test_it_shares_sessions_between_two_app_hosts(app_env, tmp_path):
    with procs.RedisServer() as redis:
        host_a_env = {**app_env, "REDIS_URL": redis.url}
        # A second host: the same database, Redis and secret key; its own var/ directory.
        (tmp_path / "host-b").mkdir()
        host_b_env = {**host_a_env, "FLOCK_VAR_DIR": str(tmp_path / "host-b")}
        with procs.Gunicorn(host_a_env, workers=1) as a, procs.Gunicorn(host_b_env, workers=1) as b:
            http = procs.log_in(a.url)
            assert procs.logged_in(http, b.url)
            http_b = procs.log_in(b.url, "alice", next_url="/members/")
            r = http_b.get(a.url + "/members/", allow_redirects=False, timeout=procs.TIMEOUT)
            assert r.status_code == 200
            # Logging out on one host ends the session on both.
            page = http.get(b.url + "/admin/", timeout=procs.TIMEOUT)
            token = http.cookies.get("csrftoken")
            http.post(b.url + "/accounts/logout/", data={"csrfmiddlewaretoken": token}, timeout=procs.TIMEOUT)
            assert page.status_code == 200
            assert not procs.logged_in(http, a.url)


def test_it_gives_each_worker_its_own_redis_and_database_sockets(app_env):
    """Nothing is opened in the master and inherited: every socket to Redis has one owner, a worker.

    Only sockets held by the Gunicorn master or its workers are looked at: this test process
    (or any other) may hold its own connections to a server on that port (a client left over
    from an earlier test whose Redis had the same port, say), which say nothing about Gunicorn.
    """
    import re
    import subprocess

    with procs.RedisServer() as redis, procs.Gunicorn({**app_env, "REDIS_URL": redis.url}, workers=2) as app:
        http = procs.log_in(app.url)
        for _ in range(20):
            assert procs.logged_in(http, app.url)
        workers = app.worker_pids()
        ours = workers | {app.proc.pid}
        out = subprocess.run(
            ["ss", "-tnpH", "dst", f"127.0.0.1:{redis.port}"], capture_output=True, text=True, check=True
        ).stdout
        owners = [
            {int(pid) for pid in re.findall(r"pid=(\d+)", line)} for line in out.splitlines() if "pid=" in line
        ]
        owners = [pids for pids in owners if pids & ours]  # Gunicorn's sockets only
        assert owners, out
        assert all(len(pids) == 1 for pids in owners), out  # a socket shared by two processes lists both
        assert set().union(*owners) <= workers, (out, workers)
        assert app.proc.pid not in set().union(*owners)
