"""Zero-downtime operations on real Gunicorn (the pinned version, gunicorn.conf.py as shipped).

- HUP under load: no failed request (gunicorn issue #3394 reported dropped requests on
  HUP after 20.1.0), and the new workers run freshly imported code.
- TERM: the request in flight completes before the master exits.
Served through tests/ops/probe_app.py, a test-only wrapper around the real application.
"""

import signal
import threading
import time

import pytest
import requests

from tests.ops import procs

pytestmark = [pytest.mark.slow, procs.once]

APP = "tests.ops.probe_app:application"
# A reload makes requests queue in the listen backlog while the new workers import the app
# (old ones stop accepting at once): seconds on a busy 2-core CI box. Queued is not dropped,
# so the clients wait that long before calling a request failed.
LOAD_TIMEOUT = 60


def run_load(app_url, cookies, stop, results, failures):
    """One client: alternates the no-DB page and a session + DB page until told to stop."""
    http = requests.Session()
    http.cookies.update(cookies)
    paths = ["/healthz", "/admin/"]
    i = 0
    while not stop.is_set():
        path = paths[i % 2]
        i += 1
        try:
            r = http.get(app_url + path, allow_redirects=False, timeout=LOAD_TIMEOUT)
            if r.status_code != 200:
                failures.append(f"{path}: {r.status_code}")
            else:
                results.append(r.headers.get("X-Probe-Version"))
        except requests.RequestException as exc:
            failures.append(f"{path}: {type(exc).__name__}: {exc}")


def test_it_reloads_on_hup_without_dropping_a_request_and_serves_new_code(app_env, tmp_path):
    version = tmp_path / "version.txt"
    version.write_text("v1")
    env = {**app_env, "FLOCK_PROBE_VERSION_FILE": str(version)}
    with procs.Gunicorn(env, app=APP, workers=2) as app:
        cookies = procs.log_in(app.url).cookies
        first_workers = app.worker_pids()
        stop = threading.Event()
        results, failures = [], []
        clients = [
            threading.Thread(target=run_load, args=(app.url, cookies, stop, results, failures)) for _ in range(4)
        ]
        for t in clients:
            t.start()
        try:
            time.sleep(1.0)
            app.signal(signal.SIGHUP)
            time.sleep(1.5)
            version.write_text("v2")  # "deploy" new code, then reload
            app.signal(signal.SIGHUP)
            time.sleep(1.5)
            app.signal(signal.SIGHUP)
            time.sleep(2.0)
        finally:
            stop.set()
            for t in clients:
                t.join(timeout=LOAD_TIMEOUT + 10)
        assert failures == [], f"{len(failures)} failed of {len(results) + len(failures)}: {failures[:5]}"
        assert len(results) >= 8, "the load ran"
        assert "v1" in results and "v2" in results
        # After the reloads: only new workers, all on the new code.
        procs.wait_for(lambda: len(app.worker_pids()) == 2, timeout=30, what="old workers to exit")
        assert app.worker_pids().isdisjoint(first_workers)
        http = requests.Session()
        assert {http.get(app.url + "/healthz", timeout=procs.TIMEOUT).headers["X-Probe-Version"] for _ in range(10)} == {
            "v2"
        }
        print(f"{len(results)} requests, 0 failed, across 3 HUPs")


def test_it_finishes_the_request_in_flight_on_term(app_env):
    with procs.Gunicorn(app_env, app=APP, workers=2) as app:
        outcome = {}

        def slow():
            try:
                r = requests.get(app.url + "/probe/slow?seconds=3", timeout=procs.TIMEOUT)
                outcome["response"] = (r.status_code, r.text)
            except requests.RequestException as exc:
                outcome["error"] = exc

        client = threading.Thread(target=slow)
        client.start()
        time.sleep(1.0)  # the request is in a worker now
        app.signal(signal.SIGTERM)
        client.join(timeout=30)
        assert outcome.get("response") == (200, "slept 3.0\n"), outcome
        assert app.proc.wait(timeout=40) == 0
        # The master exits after draining: nothing listens any more.
        with pytest.raises(requests.ConnectionError):
            requests.get(app.url + "/healthz", timeout=2)
