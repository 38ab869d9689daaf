"""A PostgreSQL restart costs only the requests made while it is down; the app then recovers
by itself (no Gunicorn restart), with persistent connections and with the psycopg pool.

Runs against a private PostgreSQL cluster (initdb into a temp dir, own port), never the
machine's shared one. Skipped where one cannot be made, except under CI=true.
"""

import os

import pytest
import requests

from tests.ops import procs

pytestmark = [pytest.mark.slow, procs.once]


@pytest.fixture(scope="module")
def private_pg():
    reason = procs.PostgresCluster.available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but a private PostgreSQL cluster cannot be made: {reason}")
        pytest.skip(reason)
    with procs.PostgresCluster() as pg:
        procs.prepare_database(procs.base_env(DATABASE_URL=pg.url, FLOCK_VAR_DIR=str(pg.dir / "setup-var")))
        yield pg


@pytest.mark.parametrize("pool", ["off", "on"])
def test_it_recovers_after_a_postgresql_restart(private_pg, tmp_path, pool):
    env = procs.base_env(
        DATABASE_URL=private_pg.url,
        DB_POOL=pool,
        DB_POOL_TIMEOUT="1",
        FLOCK_VAR_DIR=str(tmp_path),
        DJANGO_SECRET_KEY="ops-test-secret-key-0123456789-0123456789-0123456789",
    )
    with procs.Gunicorn(env, workers=2) as app:
        http = procs.log_in(app.url)
        # Warm every worker thread's connection, so that each one holds a connection to cut.
        for _ in range(16):
            assert procs.logged_in(http, app.url)

        private_pg.halt()
        try:
            # Down: the page fails (an error page) instead of hanging. With the pool, each
            # connection attempt first waits up to DB_POOL_TIMEOUT for the pool to reconnect.
            r = http.get(app.url + "/admin/", allow_redirects=False, timeout=60)
            assert r.status_code == 500
            assert requests.get(app.url + "/healthz", timeout=procs.TIMEOUT).status_code == 200
        finally:
            private_pg.resume()

        if pool == "on":
            # The pool reconnects in the background, with a backoff that grew during the outage.
            procs.wait_for(lambda: procs.logged_in(http, app.url), timeout=60, what="the pool to reconnect")
        # Up again: every request succeeds, on every worker and thread, with no restart.
        statuses = [
            http.get(app.url + "/admin/", allow_redirects=False, timeout=procs.TIMEOUT).status_code
            for _ in range(16)
        ]
        assert statuses == [200] * 16
