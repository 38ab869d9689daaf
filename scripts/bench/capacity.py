"""`make capacity`: staff-mix capacity before vs after Phase 1, and what each piece is worth.

    make capacity                                   # the full run (~25 min on 2 cores, seeding included)
    .venv/bin/python scripts/bench/capacity.py --quick   # development: short steps, a few minutes
    .venv/bin/python scripts/bench/capacity.py --tiny --out DIR   # `make test`'s version: seconds

Data: the bench database of `make bench-queries` (flock_bench: 1.1M members in 201 churches, the
biggest with 100,000; seeded here the first time by `scripts/bench_queries.py --seed --seed-only`,
timed), and a copy of it without the critical indices (scripts/bench/before_db.py).

Load: the staff mix of loadtest/locustfile.py (`StaffMix`), open-loop at stepped arrival rates
(scripts/bench/openloop.py: Locust FastHttpUsers, each paced at a fixed interval). For each
configuration: a short closed-loop probe gives the throughput ceiling; coarse steps from 60 % of
it find the knee, bisection steps narrow it, and the highest passing rate is run twice more.
**Capacity** = the highest offered rate whose median over the three runs keeps p95 <= 250 ms
with 0 failures and every arrival on time. Then one step at 80 % of the "after" capacity
(three for before and after), and for before and after a step at half their capacity with a
`kill -HUP` of the master (a `make deploy`) in the middle.

Configurations, in one run: "after" (the production defaults: a gthread worker per core, cache
on, Redis sessions, the indices), "before" (one sync worker, CACHE_ASIDE=off, database
sessions, the indices dropped on the copy; the per-church counters cannot be turned off), and
from "after" one piece off at a time.

Measured per step: latency per page type (exact, from every response), failures, achieved vs
offered rate, SQL statements per request (`flock_db_queries_total` on /metrics), CPU seconds of
Gunicorn, of PostgreSQL's backends serving this database, of a private Redis started here, of
the load generator and of the whole machine (/proc), RSS per worker. Plus the /healthz and warm
dashboard rates (wrk) and the dashboard's cache miss vs hit at the 100,000-member church.
Writes docs/capacity.md, docs/capacity.png, docs/capacity.json (`--out` elsewhere). Every server
it starts listens on 127.0.0.1 and is stopped by pid; a missing figure fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_bench")
os.environ.setdefault("BENCH_PASSWORD", "flock-demo-password")  # bench_queries' seed_demo default
os.environ.setdefault("BENCH_VAR_DIR", str(ROOT / "var" / "capacity"))
os.environ.setdefault("BENCH_CACHE_KEY_PREFIX", "flockcap")
sys.path.insert(0, str(HERE))

P95_LIMIT_MS = 250.0
# The tiny mode (`make test`) checks the harness, not the server: its steps pass on 0 failures
# alone, so that a busy test machine cannot fail it (its figures are not judged).
TINY_P95_LIMIT_MS = 60_000.0
SESSIONS_PER_SERVER = 4
CORES = os.cpu_count() or 1


def _die(msg: str) -> None:
    print(f"[capacity] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


class PrivateRedis:
    """redis-server on a free 127.0.0.1 port, ours alone (so its CPU in /proc is this run's)."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = ""
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "PrivateRedis":
        if shutil.which("redis-server") is None:
            _die("redis-server is not installed (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="flock-capacity-redis-")
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.1)
        self.stop()
        _die(f"the private redis-server on port {self.port} did not answer")
        raise AssertionError

    def flush(self) -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=self.port).flushall()  # our own server: nobody else's data

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


REDIS = PrivateRedis()
os.environ["BENCH_REDIS_URL"] = REDIS.url

import before_db  # noqa: E402
import capacity_report  # noqa: E402
import common  # noqa: E402
import loadgen  # noqa: E402
import procstat  # noqa: E402
import pyspy  # noqa: E402
from common import VAR, Server, log  # noqa: E402

# name, what it changes from "after" (the production defaults), Server environment.
AFTER = {"WEB_CONCURRENCY": str(CORES), "GUNICORN_WORKER_CLASS": "gthread", "CACHE_ASIDE": "on",
         "SESSION_STORE": "cache", "db": "main"}
CONFIGS = {
    "after": ("the production defaults", {}),
    "before": ("one sync worker, cache off, database sessions, indices dropped",
               {"WEB_CONCURRENCY": "1", "GUNICORN_WORKER_CLASS": "sync", "CACHE_ASIDE": "off",
                "SESSION_STORE": "database", "db": "before"}),
    "workers → 1": ("after with one gthread worker (4 threads)", {"WEB_CONCURRENCY": "1"}),
    "cache off": ("after with CACHE_ASIDE=off", {"CACHE_ASIDE": "off"}),
    "database sessions": ("after with SESSION_STORE=database", {"SESSION_STORE": "database"}),
    "indices dropped": ("after on the copy without the critical indices", {"db": "before"}),
}


# --- the load generator process ---------------------------------------------------------------
class Generator:
    """scripts/bench/openloop.py against one server; steps are JSON lines both ways."""

    def __init__(self, port: int, sessions: list[dict], targets: dict, interval: float) -> None:
        VAR.mkdir(parents=True, exist_ok=True)
        (VAR / "sessions.json").write_text(json.dumps(sessions))
        (VAR / "targets.json").write_text(json.dumps(targets))
        self.stderr = open(VAR / "openloop.log", "a")
        self.proc = subprocess.Popen(
            [common.PYTHON, str(HERE / "openloop.py"), "--host", f"http://127.0.0.1:{port}",
             "--sessions", str(VAR / "sessions.json"), "--targets", str(VAR / "targets.json"),
             "--interval", str(interval)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1,
            start_new_session=True,
        )
        self.ready = self._read("ready", timeout=60)

    def _read(self, event: str, timeout: float) -> dict:
        import select

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.stop()
                _die(f"the load generator sent no {event!r} within {timeout:.0f} s; see {VAR / 'openloop.log'}")
            line = self.proc.stdout.readline()
            if not line:
                _die(f"the load generator exited ({self.proc.poll()}); see {VAR / 'openloop.log'}")
            msg = json.loads(line)
            if msg.get("event") == event:
                return msg

    def step(self, cmd: dict, on_measuring, timeout: float) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        self._read("measuring", timeout=cmd["warmup"] + 60)
        on_measuring()
        return self._read("result", timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


# --- one server under load --------------------------------------------------------------------
class Bench:
    """One configuration's server and generator, and the measured steps."""

    def __init__(self, run: "Run", name: str, env: dict[str, str]) -> None:
        self.run, self.name = run, name
        self.env = {k: v for k, v in env.items() if k != "db"}
        self.database_url = run.before_url if env["db"] == "before" else common.DATABASE_URL
        self.dbname = self.database_url.rsplit("/", 1)[1]
        self.server: Server | None = None
        self.gen: Generator | None = None

    def __enter__(self) -> "Bench":
        REDIS.flush()
        workers = int(self.env["WEB_CONCURRENCY"])
        slug = self.name.replace(" ", "-").replace("→", "to")
        self.server = Server(f"cap-{slug}", cache_aside=self.env["CACHE_ASIDE"] == "on", workers=workers,
                             env={"GUNICORN_WORKER_CLASS": self.env["GUNICORN_WORKER_CLASS"],
                                  "SESSION_STORE": self.env["SESSION_STORE"], "DATABASE_URL": self.database_url})
        self.run.cleanup.append(self.server.stop)
        self.server.start()
        fx = self.run.fixture
        sessions = []
        for _ in range(SESSIONS_PER_SERVER if not self.run.tiny else 1):
            client = common.login(self.server.port, fx.username, fx.password)
            sessions.append(dict(client.cookies))
            client.close()
        self.gen = Generator(self.server.port, sessions, self.run.targets, self.run.user_interval)
        self.run.cleanup.append(self.gen.stop)
        return self

    def __exit__(self, *exc) -> None:
        if self.gen:
            self.gen.stop()
        if self.server:
            self.server.stop()

    # --- measuring ---
    def _groups(self) -> dict[str, list[int]]:
        master = self.server.proc.pid
        return {"gunicorn": [master, *procstat.children(master)], "postgres": self.run.pg_backends(self.dbname),
                "redis": [REDIS.proc.pid], "generator": [self.gen.proc.pid]}

    def measure(self, cmd: dict, *, during=None) -> dict:
        """One step; `during(step_seconds)` runs in the parent while the generator measures."""
        snaps: dict = {}

        def on_measuring() -> None:
            snaps["a"] = procstat.snapshot(self._groups())
            snaps["m"] = common.metric_samples(self.server.port)
            snaps["t"] = time.monotonic()
            if during:
                snaps["during"] = during(cmd["duration"])

        res = self.gen.step(cmd, on_measuring, timeout=cmd["duration"] + 120)
        b = procstat.snapshot(self._groups())
        m = common.metric_samples(self.server.port)
        res["cpu_s"] = procstat.cpu_delta(snaps["a"], b)
        res["server_requests"] = _delta(snaps["m"], m, "django_http_requests_total_by_method_total")
        res["sql"] = _delta(snaps["m"], m, "flock_db_queries_total")
        res["sql_by_view"] = _by_label(snaps["m"], m, "flock_db_queries_total", "view")
        res["requests_by_view"] = _by_label(snaps["m"], m, "django_http_requests_total_by_view_transport_method_total",
                                            "view")
        res["cache"] = {outcome: _by_label(snaps["m"], m, "flock_cache_aside_total", "namespace", outcome=outcome)
                        for outcome in ("hits", "misses", "errors")}
        res["rss_kb"] = [procstat.rss_kb(p) for p in procstat.children(self.server.proc.pid)]
        res["during"] = snaps.get("during")
        res["config"] = self.name
        res["passed"] = passes(res)
        label = "closed" if cmd["cmd"] == "closed" else f"{cmd['rate']:.1f} req/s"
        a = res["all"] or {}
        log(f"  {self.name} {label}: achieved {res['achieved_rps']:.1f}, p50 {a.get('p50', 0):.0f} "
            f"p95 {a.get('p95', 0):.0f} p99 {a.get('p99', 0):.0f} ms, {res['failures']} failed, "
            f"{res['late']} late, gen {res['cpu_s']['generator']:.1f} s CPU -> {'pass' if res['passed'] else 'FAIL'}")
        return res

    def step(self, rate: float, *, during=None, kind: str = "search") -> dict:
        res = self.measure({"cmd": "step", "rate": rate, "warmup": self.run.warmup,
                            "duration": self.run.duration_for(rate)}, during=during)
        res["kind"] = kind
        self.run.steps.append(res)
        self.run.checkpoint()
        return res

    def probe(self) -> dict:
        threads = 1 if self.env["GUNICORN_WORKER_CLASS"] == "sync" else 4
        users = max(8, 4 * int(self.env["WEB_CONCURRENCY"]) * threads)
        res = self.measure({"cmd": "closed", "users": users, "warmup": self.run.probe_warmup,
                            "duration": self.run.probe_s})
        res["kind"] = "probe"
        self.run.steps.append(res)
        return res

    def find_capacity(self) -> dict:
        """Coarse steps from 60 % of the probe's throughput, bisection around the knee, repeats."""
        run = self.run
        if run.tiny:
            for rate in run.tiny_rates:
                self.step(rate)
            passing = [s for s in run.steps_of(self.name, "search") if s["passed"]]
            if not passing:
                _die(f"{self.name}: neither tiny step passed; see {VAR}")
            best = max(s["offered_rps"] for s in passing)
            return {"capacity_rps": best, "repeats": [s for s in passing if s["offered_rps"] == best],
                    "probe_rps": None}
        started = time.monotonic()
        probe = self.probe()
        ceiling = max(1.0, probe["achieved_rps"])
        results: dict[float, list[dict]] = {}

        def test(rate: float) -> bool:
            rate = round(rate, 1)
            res = self.step(rate)
            results.setdefault(rate, []).append(res)
            return res["passed"]

        lo, hi = None, None
        rate = 0.6 * ceiling
        for _ in range(8):  # coarse: up by 1.25x while passing, down by 1.6x while failing
            if test(rate):
                lo = rate
                if hi is not None or rate > 1.3 * ceiling:
                    break
                rate *= 1.25
            else:
                hi = rate
                if lo is not None or rate < 0.5:
                    break
                rate /= 1.6
        for _ in range(run.fine_steps):
            if lo is None or hi is None or hi / lo <= run.resolution:
                break
            mid = math.sqrt(lo * hi)
            if test(mid):
                lo = mid
            else:
                hi = mid
        # Repeats at the knee: the capacity stands on the median of the runs, or steps down. Past the
        # configuration's time budget no more repeats are run (the runs there are judged as they are).
        confirmed = None
        for _ in range(6):
            if lo is None:  # nothing passing below what failed: try lower
                rate = (hi or ceiling) / 1.4
                if rate < 0.5:
                    break
                if not test(rate):
                    hi = rate
                    continue
                lo = rate
            key = round(lo, 1)
            while len(results[key]) < run.repeats and time.monotonic() - started < run.budget_s:
                test(key)
            if passes_median(results[key]):
                confirmed = key
                break
            hi = lo
            lower = [r for r, rs in results.items() if r < key and any(s["passed"] for s in rs)]
            lo = max(lower) if lower else None
        if confirmed is None:
            lowest = min(results)
            if self.name == "after":
                _die(f"after: no rate held p95 <= {P95_LIMIT_MS:.0f} ms (lowest tried: {lowest:.1f} req/s); every "
                     f"other figure is relative to it. See {VAR}")
            log(f"  {self.name}: p95 above {P95_LIMIT_MS:.0f} ms even at {lowest:.1f} req/s: capacity below that")
            return {"capacity_rps": 0.0, "below_rps": lowest, "repeats": results[lowest], "probe_rps": ceiling,
                    "first_fail_rps": lowest}
        key = confirmed
        return {"capacity_rps": key, "repeats": results[key], "probe_rps": ceiling,
                "first_fail_rps": round(hi, 1) if hi else None}

    def profile_step(self, rate: float) -> dict:
        """A step with py-spy sampling every worker (non-blocking) for the window: where the time goes."""
        box: dict = {}
        slug = self.name.replace(" ", "-").replace("→", "to")

        def during(duration: float) -> None:
            box["procs"] = pyspy.record(procstat.children(self.server.proc.pid), duration, VAR / "pyspy" / slug)

        res = self.step(rate, during=during, kind="profile")
        res["profile"] = pyspy.summarise(pyspy.wait(box.get("procs", []), timeout=60))
        if not res["profile"]["samples"] and not self.run.tiny:
            _die(f"{self.name}: py-spy recorded no samples of the workers (needs ptrace: run as root)")
        return res

    def hup_step(self, rate: float) -> dict:
        """A step with `kill -HUP` of the master a third of the way in (what `make deploy` does)."""

        def during(duration: float) -> dict:
            time.sleep(duration / 3)
            old = set(procstat.children(self.server.proc.pid))
            t0 = time.monotonic()
            os.kill(self.server.proc.pid, signal.SIGHUP)
            deadline = t0 + max(10.0, duration)
            workers = int(self.env["WEB_CONCURRENCY"])
            out: dict = {"old": sorted(old), "reload_s": None, "old_gone_s": None}
            while time.monotonic() < deadline and out["old_gone_s"] is None:
                if self.run.tiny and out["reload_s"] is not None:
                    break  # the test's short step: the new workers are enough
                now = set(procstat.children(self.server.proc.pid))
                if out["reload_s"] is None and len(now - old) >= workers:
                    out["reload_s"] = round(time.monotonic() - t0, 2)  # the new workers are up
                if out["reload_s"] is not None and not (now & old):
                    out["old_gone_s"] = round(time.monotonic() - t0, 2)  # the old ones have finished
                time.sleep(0.05)
            out["new"] = sorted(procstat.children(self.server.proc.pid))
            return out

        # The HUP runs in a thread so that the parent keeps reading the generator's answer.
        import threading

        box: dict = {}
        thread_holder: list = []

        def start(duration: float):
            t = threading.Thread(target=lambda: box.update(during(duration)))
            t.start()
            thread_holder.append(t)
            return None

        res = self.step(rate, during=start, kind="hup")
        for t in thread_holder:
            t.join()
        res["during"] = box
        if not box.get("reload_s"):
            _die(f"{self.name}: the workers were not replaced after kill -HUP ({box})")
        return res


def _delta(a, b, name: str) -> float:
    return common.metric_sum(b, name) - common.metric_sum(a, name)


def _by_label(a, b, name: str, label: str, **match: str) -> dict[str, float]:
    """The counter's increase between two /metrics samples, per value of `label`."""
    values = {labels.get(label) for n, labels, _ in b if n == name and label in labels}
    out = {v: common.metric_sum(b, name, **{label: v}, **match) - common.metric_sum(a, name, **{label: v}, **match)
           for v in sorted(values)}
    return {k: v for k, v in out.items() if v}


def passes(res: dict) -> bool:
    a = res.get("all")
    if not a or res["failures"]:
        return False
    if res.get("offered_rps") is None:  # a closed-loop probe has no bound
        return True
    # Late starts show a server that fell behind (a user's response outlasted its interval). The
    # achieved rate only guards against a generator that did not offer the load at all (a few
    # per cent short with nothing late is the generator's own scheduling on a busy machine).
    if P95_LIMIT_MS == TINY_P95_LIMIT_MS:
        return True
    on_time = res["late"] <= 0.01 * max(1, res["arrivals"])
    expected = res["offered_rps"] * res["wall_s"]
    delivered = expected < 100 or res["achieved_rps"] >= 0.8 * res["offered_rps"]
    return a["p95"] <= P95_LIMIT_MS and on_time and delivered


def passes_median(runs: list[dict]) -> bool:
    if any(r["failures"] or not r["all"] for r in runs):
        return False
    return statistics.median(r["all"]["p95"] for r in runs) <= P95_LIMIT_MS and sum(r["passed"] for r in runs) * 2 > len(runs)


# --- the run ----------------------------------------------------------------------------------
class Run:
    def __init__(self, args) -> None:
        global P95_LIMIT_MS
        self.quick, self.tiny = args.quick, args.tiny
        if self.tiny:
            P95_LIMIT_MS = TINY_P95_LIMIT_MS
        self.out = Path(args.out)
        if self.tiny:
            self.min_duration, self.max_duration, self.min_requests = 1.5, 1.5, 1
            self.warmup, self.repeats, self.fine_steps, self.probe_s, self.probe_warmup = 1.0, 1, 0, 1, 1
            self.tiny_rates = (4.0, 8.0)
            self.user_interval = 0.5
        elif self.quick:
            self.min_duration, self.max_duration, self.min_requests = 6, 15, 300
            self.warmup, self.repeats, self.fine_steps, self.probe_s, self.probe_warmup = 3, 2, 2, 3, 2
            self.user_interval = 2.0
        else:
            # At least 10 s and 300 requests a step, at most 20 s (the "before" runs at a few req/s).
            self.min_duration, self.max_duration, self.min_requests = 10, 20, 300
            self.warmup, self.repeats, self.fine_steps, self.probe_s, self.probe_warmup = 3, 3, 2, 5, 3
            # Seconds between one user's requests: 8x the p95 bound (a slow response rarely delays the next).
            self.user_interval = 2.0
        self.resolution = 1.1
        # Seconds of a configuration's capacity search after which no more repeats are run.
        self.budget_s = 60 if self.tiny else 150 if self.quick else 240
        plan = {"min_duration_s": self.min_duration, "max_duration_s": self.max_duration,
                "min_requests": self.min_requests, "warmup_s": self.warmup, "repeats": self.repeats,
                "fine_steps": self.fine_steps, "probe_s": self.probe_s, "resolution": self.resolution}
        self.configs = [c.strip() for c in args.configs.split(",")] if args.configs else list(CONFIGS)
        unknown = [c for c in self.configs if c not in CONFIGS]
        if unknown or "after" not in self.configs:
            _die(f"--configs must include 'after' and name only {list(CONFIGS)}; got {unknown or self.configs}")
        self.configs.sort(key=lambda c: (c != "after", c != "before"))
        self.steps: list[dict] = []
        self.cleanup: list = []
        self.results: dict = {"quick": self.quick, "tiny": self.tiny, "steps": self.steps, "p95_limit_ms": P95_LIMIT_MS,
                              "plan": plan}
        self.before_url = ""
        self.fixture = None
        self.targets: dict = {}
        self._pg = None

    def duration_for(self, rate: float) -> float:
        return max(self.min_duration, min(self.max_duration, self.min_requests / max(rate, 0.1)))

    def steps_of(self, config: str, kind: str) -> list[dict]:
        return [s for s in self.steps if s["config"] == config and s.get("kind") == kind]

    def checkpoint(self) -> None:
        (VAR / "capacity-partial.json").write_text(json.dumps(self.results, indent=1, default=str))

    def pg_backends(self, dbname: str) -> list[int]:
        import psycopg

        if self._pg is None or self._pg.closed:
            self._pg = before_db._connect(common.DATABASE_URL, "postgres")
        rows = self._pg.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,)).fetchall()
        del psycopg
        return [r[0] for r in rows]


def seed(run: Run) -> dict:
    """Seed flock_bench the first time (bench_queries' own seeding), timed; then migrate it."""
    t0 = time.monotonic()
    if run.tiny:
        info = {"seeded": False}
    else:
        env = common.app_env(DATABASE_URL=common.DATABASE_URL, CACHE_ASIDE="off")
        res = subprocess.run([common.PYTHON, str(ROOT / "scripts" / "bench_queries.py"), "--seed", "--seed-only"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            _die(f"seeding {common.DATABASE_URL} failed:\n{res.stderr[-2000:]}")
        info = json.loads(res.stdout.strip().splitlines()[-1])
        info["seeded"] = bool(info.get("seed"))
    common.manage("migrate", "--noinput", "-v", "0")
    common.manage("collectstatic", "--noinput", "-v", "0")
    info["seconds"] = round(time.monotonic() - t0, 1)
    return info


def discover(run: Run, port: int) -> dict:
    """What the mix visits: members and search terms sampled across the whole church, its current
    groups, its recent attendance sessions, a Next link from a typed page."""
    import re

    from members.models import Group, Member

    fx = run.fixture
    ids = list(Member.objects.filter(church_id=fx.church_id).order_by("id").values_list("id", flat=True))
    step = max(1, len(ids) // 200)
    member_ids = ids[::step][:200]
    names = Member.objects.filter(pk__in=member_ids[::8]).values_list("last_name", flat=True)
    terms = sorted({n.strip()[:4].lower() for n in names if len(n.strip()) >= 4})[:16]
    group_ids = list(Group.objects.filter(church_id=fx.church_id, archived=False)
                     .order_by("id").values_list("id", flat=True)[:200])
    client = common.login(port, fx.username, fx.password)
    _, _, html = client.get("/attendance/")
    sessions = sorted({s.replace("&amp;", "&") for s in re.findall(r'href="(/attendance/record/\?[^"]+)"', html)})
    _, _, page = client.get("/members/?page=3")
    nxt = re.search(r'href="([^"]*[?&;]after=[^"]*)" rel="next"', page)
    client.close()
    from django.db import connections

    connections.close_all()
    if not member_ids or not group_ids or not terms:
        _die("the bench church has no members, groups or names to visit")
    return {"member_ids": member_ids, "group_ids": group_ids, "terms": terms or ["smit"], "sessions": sessions[:50],
            "next_url": nxt.group(1).replace("&amp;", "&") if nxt else None}


def wrk_rates(run: Run, port: int, path: str, cookie: str | None) -> dict:
    wrk = loadgen.ensure_wrk()
    duration = 1 if run.tiny else 3 if run.quick else 5
    repeats = 1 if run.tiny else 3
    rates = []
    for _ in range(repeats):
        figures = loadgen.run_wrk(wrk, port, path, duration=duration, connections=min(4, 2 * CORES),
                                  threads=min(2, CORES), cookie=cookie)
        rates.append(figures["rps"])
    log(f"  wrk {path}: {', '.join(f'{r:.0f}' for r in rates)} req/s")
    return {"runs": rates, "median": statistics.median(rates), "duration_s": duration,
            "connections": min(4, 2 * CORES), "wrk": loadgen.wrk_version(wrk)}


def preflight(run: Run) -> None:
    """Every tool the run needs, checked before anything is measured (not after 20 minutes)."""
    from urllib.parse import urlparse

    if urlparse(common.DATABASE_URL).hostname not in ("127.0.0.1", "localhost", "::1"):
        # Its backends' CPU is read from /proc, and the run only ever talks to this machine.
        _die(f"BENCH_DATABASE_URL must be a PostgreSQL on 127.0.0.1; got {common.DATABASE_URL}")
    loadgen.ensure_wrk()
    if pyspy.available() is None:
        _die("py-spy is not installed: make .venv/.dev (requirements-dev.txt)")
    if not run.tiny:
        import chart

        if not Path(chart.CHROMIUM).exists() and os.geteuid() == 0 and shutil.which("apt-get"):
            log("Chromium (for the PNG of the curves) is missing: installing Debian's with apt-get")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
        if not Path(chart.CHROMIUM).exists():
            _die(f"{chart.CHROMIUM} is missing (the PNG of the curves): apt-get install chromium, or set BENCH_CHROMIUM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short steps: development, not for figures")
    parser.add_argument("--tiny", action="store_true", help="two fixed short steps per configuration (the test)")
    parser.add_argument("--configs", default="", help="comma-separated subset (must include 'after')")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where capacity.md/.png/.json go")
    parser.add_argument("--from-json", help="only write the report again from a run's results JSON")
    args = parser.parse_args()
    if args.from_json:
        return write_report(json.loads(Path(args.from_json).read_text()), Path(args.out))
    run = Run(args)
    started = datetime.datetime.now(datetime.UTC)
    t_start = time.monotonic()

    def stop_everything(*_sig) -> None:
        for fn in reversed(run.cleanup):
            try:
                fn()
            except Exception as exc:  # keep stopping the others
                print(f"[capacity] cleanup: {exc}", file=sys.stderr)
        run.cleanup.clear()

    atexit.register(stop_everything)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(f"[capacity] stopped by signal; servers stopped"))

    preflight(run)
    REDIS.start()
    run.cleanup.append(REDIS.stop)
    log(f"private Redis on 127.0.0.1:{REDIS.port}; database {common.DATABASE_URL}")
    run.results["seed"] = seed(run)
    log(f"data ready in {run.results['seed']['seconds']} s")
    run.fixture = common.find_fixture()
    if run.fixture is None:
        _die(f"no church with BENCH_MEMBERS={common.MEMBERS} members and a staff account in {common.DATABASE_URL}")
    common.setup_django(CACHE_ASIDE="on")
    import writeup

    run.results["machine"] = writeup.machine_info(wrk_version=loadgen.wrk_version(loadgen.ensure_wrk()))
    run.results["fixture"] = {"church": run.fixture.slug, "members": run.fixture.members}
    from django.db import connections

    connections.close_all()
    run.before_url, run.results["before_db"] = before_db.prepare(common.DATABASE_URL, log)
    configs: dict = {}
    run.results["configs"] = configs
    for name in run.configs:
        what, changes = CONFIGS[name]
        env = {**AFTER, **changes}
        log(f"== {name}: {what}")
        with Bench(run, name, env) as bench:
            if not run.targets:
                run.targets = discover(run, bench.server.port)
                run.results["targets"] = {k: len(v) if isinstance(v, list) else v for k, v in run.targets.items()}
                run.results["skipped_tasks"] = bench.gen.ready["skipped"]
                run.results["weights"] = bench.gen.ready["weights"]
                run.results["requests_per_task"] = bench.gen.ready["requests_per_task"]
                run.results["user_interval_s"] = bench.gen.ready["user_interval_s"]
            cap = bench.find_capacity()
            cfg = {"what": what, "env": env, **cap}
            log(f"  {name}: capacity {cap['capacity_rps']:.1f} req/s")
            after_cap = configs["after"]["capacity_rps"] if name != "after" else cap["capacity_rps"]
            rate80 = 0.8 * after_cap
            # 80 % of its own capacity where it cannot carry 80 % of after's; the lowest rate tried
            # where even that was too much.
            own80 = rate80 if cap["capacity_rps"] >= rate80 else 0.8 * cap["capacity_rps"] or cap["below_rps"]
            cfg["at80"] = {"rate_rps": round(own80, 1), "of_after": own80 == rate80,
                           "runs": [bench.step(round(own80, 1), kind="at80")
                                    for _ in range(run.repeats if name in ("before", "after") else 1)]}
            if name == "after":
                cfg["profile"] = bench.profile_step(round(own80, 1))
            if name in ("before", "after"):
                cfg["hup"] = bench.hup_step(round(max(1.0, 0.5 * (cap["capacity_rps"] or cap["below_rps"])), 1))
            if name == "after":
                cookie = "; ".join(f"{k}={v}" for k, v in common.login(bench.server.port, run.fixture.username,
                                                                          run.fixture.password).cookies.items())
                cfg["healthz"] = wrk_rates(run, bench.server.port, "/healthz", None)
                cfg["dashboard"] = wrk_rates(run, bench.server.port, "/dashboard/", cookie)
            cfg["workers"] = int(env["WEB_CONCURRENCY"])
            configs[name] = cfg
            run.checkpoint()
    log("dashboard data at the bench church: cache miss vs hit, in process")
    import run as bench_run

    run.results["dashboard_data"] = bench_run.phase_data(run.fixture, cold_runs=3 if run.tiny else 15,
                                                         warm_per_cold=5 if run.tiny else 20)
    connections.close_all()
    run.results["started"] = started.strftime("%Y-%m-%d %H:%M UTC")
    run.results["seconds"] = round(time.monotonic() - t_start, 1)
    run.results["command"] = "make capacity" if not (run.quick or run.tiny) else " ".join(sys.argv)
    # Kept before the report is built, so that a report can be written again (--from-json).
    (VAR / "capacity-results.json").write_text(json.dumps(run.results, indent=1, default=str))
    return write_report(run.results, run.out)


def write_report(results: dict, out: Path) -> int:
    report = capacity_report.build(results)  # exits 1, naming it, on a missing figure
    out.mkdir(parents=True, exist_ok=True)
    (out / "capacity.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "capacity.md").write_text(report)
    why_not = capacity_report.write_chart(results, out / "capacity.png", VAR / "capacity-chart.html")
    if why_not and not results["tiny"]:
        _die(f"no PNG: {why_not}")
    print(capacity_report.summary(results))
    log(f"wrote {out / 'capacity.md'} (+ .png, .json); the run took {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
