"""`make bench`: the cache's effect, measured side by side in one run on PostgreSQL + Redis.

    make bench                      # or: .venv/bin/python scripts/bench/run.py
    BENCH_DURATION=5 BENCH_REPEATS=1 make bench     # a quicker, noisier run

1. Dashboard data of a 100,000-member church: `dashboard_summary` cache miss vs hit, in process.
2. Dashboard page throughput through Gunicorn (workers = cores), CACHE_ASIDE=off vs on (wrk).
3. Warm dashboard throughput as a fraction of /healthz throughput on the same server.
4. SQL statements per warm dashboard request and per 1,000 requests of a staff mix, off vs on
   (read from the `flock_db_queries_total` counter on /metrics, summed over the workers): once
   from an empty data cache (cold start), then a second sequence over the same targets with the
   cache as warm as the first left it (steady state, what a working day looks like).
Plus an in-process profile of a warm dashboard request (where the time goes) and the query
plans of scripts/bench_queries.py, and the hot queries at a million members from
docs/bench/queries-1m.json (written by `make bench-queries`, which `make bench` runs first).
Writes docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks.json. Traffic goes to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chart  # noqa: E402
import common  # noqa: E402
import loadgen  # noqa: E402
import writeup  # noqa: E402
from common import DOCS, Client, Server, log  # noqa: E402

# The staff mix of phase 4 (weights in percent): what a church office does all day.
MIX = (
    ("dashboard", 25),
    ("member list, page 1", 20),
    ("member list, page 2", 10),
    ("member search", 15),
    ("member detail", 15),
    ("group list", 10),
    ("group roster", 5),
)
MIX_VIEWS = ("dashboard", "member_list", "member_detail", "group_list", "group_detail")
# The cold-start sequence and the steady-state one that follows it: same targets, other draws.
MIX_SEED_COLD = 20261128
MIX_SEED_STEADY = 20261129


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def noise() -> dict:
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout.splitlines()
    me = str(os.getpid())
    pytest = [line for line in ps if "pytest" in line and not line.strip().startswith(me)]
    gunicorn = [line for line in ps if "gunicorn" in line and "var/bench" not in line]
    return {
        "at": datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S"),
        "loadavg_1m": os.getloadavg()[0],
        "pytest_processes": len(pytest),
        "other_gunicorn_processes": len(gunicorn),
    }


# --- 1. dashboard data: miss vs hit, in process -----------------------------------------------
def phase_data(fixture: common.Fixture, *, cold_runs: int, warm_per_cold: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.selectors import dashboard_fragment, dashboard_summary
    from cachemon import cache_aside, keys
    from members.models import Church

    church = Church.objects.get(pk=fixture.church_id)

    def invalidate(*namespaces: str) -> None:
        # Outside a transaction on_commit runs at once: the next read is a miss.
        cache_aside.invalidate(*namespaces, church_id=church.id)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn(church=church)
        return (time.perf_counter() - t0) * 1000

    out = {}
    for name, fn, namespaces in (
        ("summary", dashboard_summary, (keys.STATS,)),
        ("fragment", dashboard_fragment, (keys.STATS, keys.DASHBOARD)),
    ):
        invalidate(*namespaces)
        with CaptureQueriesContext(connection) as cold_q:
            fn(church=church)
        with CaptureQueriesContext(connection) as warm_q:
            fn(church=church)
        cold, warm = [], []
        # The fragment's miss is the summary's miss plus a render: fewer runs say enough.
        for _ in range(cold_runs if name == "summary" else max(5, cold_runs // 3)):
            invalidate(*namespaces)
            cold.append(timed(fn))
            warm.extend(timed(fn) for _ in range(warm_per_cold))
        out[name] = {
            "miss_ms": writeup.stats(cold), "hit_ms": writeup.stats(warm),
            "ratio": statistics.median(cold) / statistics.median(warm),
            "miss_sql": len(cold_q), "hit_sql": len(warm_q),
        }
        log(f"  {name}: miss {out[name]['miss_ms']['median']:.2f} ms ({len(cold_q)} SQL), "
            f"hit {out[name]['hit_ms']['median']:.3f} ms ({len(warm_q)} SQL): {out[name]['ratio']:.0f}x")

    # For context: the same figures aggregated from the member, membership and attendance rows, as
    # the dashboard computed them before the per-church counters (members/tallies.py); the hot
    # queries' `before` variants are those aggregates.
    from members import hot_queries

    ctx = hot_queries.HotContext.for_church(church)
    parts = [hot_queries.hot_query(n).runner(before=True)
             for n in ("dashboard_member_figures", "new_members_30d", "current_groups", "attendance_by_date")]
    rows_ms = []
    for _ in range(max(5, cold_runs // 3)):
        t0 = time.perf_counter()
        for part in parts:
            part(ctx)
        rows_ms.append((time.perf_counter() - t0) * 1000)
    out["rows_aggregate"] = {"ms": writeup.stats(rows_ms),
                             "ratio_to_hit": statistics.median(rows_ms) / out["summary"]["hit_ms"]["median"]}
    log(f"  the same figures from the rows (before the counters): {statistics.median(rows_ms):.1f} ms")
    return out


# --- 2-4. through Gunicorn ------------------------------------------------------------------
def discover(client: Client, church_id: int) -> dict:
    """What to visit: member pages and search terms sampled across the whole church (list
    pages 1-2 are all "A" names), groups as linked from the group list."""
    from members.models import Member

    _, _, p1 = client.get("/members/")
    if not re.search(r'href="/members/(\d+)/"', p1):
        common.die("no member links on /members/")
    ids = list(Member.objects.filter(church_id=church_id).order_by("id").values_list("id", flat=True))
    step = max(1, len(ids) // 100)
    member_ids = ids[::step][:100]
    names = Member.objects.filter(pk__in=member_ids[::8]).values_list("last_name", flat=True)
    terms = sorted({n.strip()[:4].lower() for n in names if len(n.strip()) >= 4})[:12] or ["smit", "john", "lee"]
    _, _, groups = client.get("/groups/")
    group_ids = sorted({int(i) for i in re.findall(r'href="/groups/(\d+)/"', groups)})
    if not group_ids:
        common.die("could not find group links on /groups/")
    return {"member_ids": member_ids, "group_ids": group_ids[:20], "terms": terms}


def mix_sequence(targets: dict, n: int, seed: int = MIX_SEED_COLD) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    seq = []
    for kind in rng.choices(kinds, weights, k=n):
        path = {
            "dashboard": lambda: "/dashboard/",
            "member list, page 1": lambda: "/members/",
            "member list, page 2": lambda: "/members/?page=2",
            "member search": lambda: f"/members/?q={rng.choice(targets['terms'])}",
            "member detail": lambda: f"/members/{rng.choice(targets['member_ids'])}/",
            "group list": lambda: "/groups/",
            "group roster": lambda: f"/groups/{rng.choice(targets['group_ids'])}/",
        }[kind]()
        seq.append((kind, path))
    return seq


def run_mix(port: int, cookies: dict, seq: list[tuple[str, str]], clients: int,
            max_seconds: float | None = None) -> tuple[dict, list[tuple[str, str]]]:
    """Send the sequence over `clients` keep-alive connections; per-kind client-side latency.

    With `max_seconds`, stops sending when the time is up and returns the requests actually
    sent, so that the other side of the comparison can send exactly the same ones.
    """
    timings: dict[str, list[float]] = {k: [] for k, _ in MIX}
    errors: list[str] = []
    done: list[tuple[str, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds if max_seconds else None

    def worker(part: list[tuple[str, str]]) -> None:
        client = Client(port, cookies, timeout=120)
        for kind, path in part:
            if deadline and time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            status, _, _ = client.get(path)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                timings[kind].append(ms)
                done.append((kind, path))
                if status != 200:
                    errors.append(f"{status} {path}")
        client.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(seq[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        common.die(f"the staff mix got answers other than 200: {errors[:5]}")
    return ({"wall_s": wall, "rps": len(done) / wall, "clients": clients,
             "p50_ms": {k: statistics.median(v) for k, v in timings.items() if v},
             "count": {k: len(v) for k, v in timings.items()}}, done)


def views_delta(before, after, views=MIX_VIEWS) -> dict[str, float]:
    return {v: common.metric_sum(after, "flock_db_queries_total", view=v)
            - common.metric_sum(before, "flock_db_queries_total", view=v) for v in views}


def cache_delta(before, after) -> dict[str, float]:
    out = {}
    for outcome in ("hits", "misses", "errors"):
        out[outcome] = (common.metric_sum(after, "flock_cache_aside_total", outcome=outcome)
                        - common.metric_sum(before, "flock_cache_aside_total", outcome=outcome))
    return out


def measure_mix(srv: Server, cookies: dict, seq: list[tuple[str, str]] | None, draw, *, clients: int,
                max_seconds: float) -> tuple[dict, list[tuple[str, str]]]:
    """One staff-mix measurement: SQL per view and cache outcomes around the requests.

    Cache off goes first (`seq` None): it sends `draw()` within `max_seconds`; cache on then
    replays exactly the requests that were sent (`seq`).
    """
    before = common.metric_samples(srv.port)
    if seq is None:
        mix, seq = run_mix(srv.port, cookies, draw(), clients=clients, max_seconds=max_seconds)
    else:
        mix, _ = run_mix(srv.port, cookies, seq, clients=clients)
    after = common.metric_samples(srv.port)
    per_view = views_delta(before, after)
    mix["sql_total"] = sum(per_view.values())
    mix["sql_per_1000"] = mix["sql_total"] * 1000 / len(seq)
    mix["sql_by_view"] = per_view
    mix["cache"] = cache_delta(before, after)
    mix["requests"] = len(seq)
    return mix, seq


def phase_http(fixture: common.Fixture, wrk: str, *, duration: int, off_duration: int, repeats: int,
               connections: int, threads: int, mix_n: int, mix_max_s: float) -> dict:
    out: dict = {"modes": {}}
    targets = None
    seq: list[tuple[str, str]] | None = None
    seq_steady: list[tuple[str, str]] | None = None
    for mode in ("off", "on"):
        log(f"Gunicorn with CACHE_ASIDE={mode}, {common.WORKERS} workers")
        with Server(f"cache-{mode}", cache_aside=mode == "on") as srv:
            client = common.login(srv.port, fixture.username, fixture.password)
            status, _, html = client.get("/dashboard/")
            shown = re.search(r'data-stat="members_total"[^>]*>\s*([\d,]+)', html)
            if status != 200 or not shown:
                common.die(f"/dashboard/ answered {status} without a members_total figure")
            if targets is None:
                targets = discover(client, fixture.church_id)
            # Warm: templates compiled, caches filled, connections open (the uncached page takes seconds).
            for _ in range(20 if mode == "on" else 2):
                client.get("/dashboard/")
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            hz_status, _, _ = Client(srv.port).get("/healthz")
            res: dict = {"members_total_shown": shown.group(1), "dashboard": [], "healthz": [],
                         "dashboard_sql": 0.0, "dashboard_requests": 0}
            for i in range(repeats):
                before = common.metric_samples(srv.port)
                # The uncached page takes seconds: a longer run so that enough requests complete.
                run = loadgen.run_wrk(wrk, srv.port, "/dashboard/", duration=duration if mode == "on" else off_duration,
                                      connections=connections, threads=threads, cookie=cookie)
                after = common.metric_samples(srv.port)
                res["dashboard"].append(run)
                res["dashboard_sql"] += views_delta(before, after, ("dashboard",))["dashboard"]
                res["dashboard_requests"] += run["requests"]
                res.setdefault("dashboard_cache", []).append(cache_delta(before, after))
                log(f"  /dashboard/ run {i + 1}: {run['rps']:.1f} req/s, p50 {run['latency_ms']['p50']:.1f} ms")
                if mode == "on" and hz_status == 200:
                    run = loadgen.run_wrk(wrk, srv.port, "/healthz", duration=duration, connections=connections,
                                          threads=threads)
                    res["healthz"].append(run)
                    log(f"  /healthz    run {i + 1}: {run['rps']:.1f} req/s, p50 {run['latency_ms']['p50']:.1f} ms")
            res["sql_per_dashboard_request"] = res["dashboard_sql"] / max(1, res["dashboard_requests"])

            # The staff mix, from an empty data cache (sessions kept): misses included.
            cleared = common.clear_cache_data()
            mix, seq = measure_mix(srv, client.cookies, seq, lambda: mix_sequence(targets, mix_n, MIX_SEED_COLD),
                                   clients=connections, max_seconds=mix_max_s)
            mix["cleared_keys"] = cleared
            res["mix"] = mix
            log(f"  staff mix, from an empty cache: {len(seq)} requests, {mix['sql_total']:.0f} SQL "
                f"({mix['sql_per_1000']:.0f} per 1,000), {mix['rps']:.1f} req/s")
            # Then the steady state: other draws over the same targets, the cache left as warm as
            # the first sequence made it (not cleared), as during a working day.
            mix, seq_steady = measure_mix(srv, client.cookies, seq_steady,
                                          lambda: mix_sequence(targets, mix_n, MIX_SEED_STEADY),
                                          clients=connections, max_seconds=mix_max_s)
            res["mix_steady"] = mix
            log(f"  staff mix, steady state: {len(seq_steady)} requests, {mix['sql_total']:.0f} SQL "
                f"({mix['sql_per_1000']:.0f} per 1,000), {mix['rps']:.1f} req/s")
            client.close()
            out["modes"][mode] = res
    out["targets"] = targets
    out["mix_weights"] = dict(MIX)
    out["mix_seeds"] = {"cold": MIX_SEED_COLD, "steady": MIX_SEED_STEADY}
    return out


# --- where a warm dashboard request spends its time (in process) ----------------------------
PROFILE_PARTS = (
    ("session + user (cache)", "django/contrib/auth/__init__.py", ("get_user",)),
    ("dashboard fragment (cache GET)", "analytics/selectors.py", ("dashboard_fragment",)),
    ("page template render", "django/shortcuts.py", ("render",)),
    ("CSRF middleware", "django/middleware/csrf.py", ("process_request", "process_view", "process_response")),
    ("Prometheus middleware", "django_prometheus/middleware.py", ("process_request", "process_response",
                                                                  "process_view")),
    ("session save check", "django/contrib/sessions/middleware.py", ("process_response",)),
    ("messages middleware", "django/contrib/messages/middleware.py", ("process_response",)),
    ("security/common/clickjacking", "django/middleware/", ("process_request", "process_response")),
    ("URL resolving", "django/urls/resolvers.py", ("resolve",)),
)


def _components(client, n: int) -> list[tuple[str, float]]:
    """The pieces of a warm dashboard request timed one by one, without a profiler's overhead."""
    from django.contrib.auth import get_user
    from django.contrib.messages.storage import default_storage
    from django.contrib.sessions.backends.cached_db import SessionStore
    from django.core.cache import cache
    from django.middleware.csrf import get_token
    from django.shortcuts import render
    from django.test import RequestFactory

    from analytics.selectors import dashboard_fragment

    session_key = client.cookies["sessionid"].value
    factory = RequestFactory(HTTP_HOST="127.0.0.1")

    def request():
        req = factory.get("/dashboard/")
        req.session = SessionStore(session_key)
        return req

    user = get_user(request())
    fragment = dashboard_fragment(church=user.church)

    def chrome():
        req = request()
        req.user, req.church, req._messages = user, user.church, default_storage(req)
        return render(req, "analytics/dashboard.html", {"nav": "dashboard", "fragment": fragment})

    def timed(fn) -> float:
        for _ in range(30):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) * 1000 / n

    return [
        ("one Redis GET (django-redis, a missing key)", timed(lambda: cache.get("bench:rtt"))),
        ("session load (cached_db: 1 GET)", timed(lambda: SessionStore(session_key).load())),
        ("session load + request.user (3 GETs)", timed(lambda: get_user(request()))),
        ("dashboard_fragment, warm (2 GETs)", timed(lambda: dashboard_fragment(church=user.church))),
        ("page chrome render around the fragment", timed(chrome)),
        ("CSRF token for the page's forms", timed(lambda: get_token(request()))),
    ]


def phase_profile(fixture: common.Fixture, *, n: int) -> dict:
    import cProfile
    import pstats

    from django.test import Client as DjangoClient

    client = DjangoClient(HTTP_HOST="127.0.0.1")
    if not client.login(username=fixture.username, password=fixture.password):
        common.die("in-process login failed")
    out: dict = {"n": n}
    for path in ("/healthz", "/dashboard/", "/accounts/login/"):
        if client.get(path).status_code != 200:
            continue
        for _ in range(50):
            client.get(path)
        t0 = time.perf_counter()
        for _ in range(n):
            client.get(path)
        out[path] = (time.perf_counter() - t0) * 1000 / n
    out["components_ms"] = _components(client, n)
    out["redis_get_ms"] = out["components_ms"][0][1]
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        client.get("/dashboard/")
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(tt for (_, _, tt, _, _) in st.stats.values())
    parts = []
    for label, path_part, funcs in PROFILE_PARTS:
        ct = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, cum, _callers) in st.stats.items():
            if path_part in filename.replace("\\", "/") and func in funcs:
                if label == "security/common/clickjacking" and not any(
                        m in filename for m in ("security.py", "common.py", "clickjacking.py")):
                    continue
                ct += cum
        parts.append((label, ct * 1000 / n))
    out["profiled_total_ms"] = total * 1000 / n
    # Network round trips (Redis; PostgreSQL when something misses) and the time spent waiting on them.
    io_ms, redis_calls, sql_calls = 0.0, 0, 0
    for (filename, _line, func), (_cc, nc, tt, _ct, _callers) in st.stats.items():
        if func in ("<method 'recv_into' of '_socket.socket' objects>", "<method 'sendall' of '_socket.socket' objects>",
                    "<method 'recv' of '_socket.socket' objects>"):
            io_ms += tt
        if filename.replace("\\", "/").endswith("redis/connection.py") and func == "read_response":
            redis_calls += nc
        if filename.replace("\\", "/").endswith("django/db/backends/utils.py") and func == "_execute":
            sql_calls += nc
    parts.append(("socket I/O (Redis/PostgreSQL)", io_ms * 1000 / n))
    out["parts_ms"] = parts
    out["redis_round_trips"] = redis_calls / n
    out["sql_statements"] = sql_calls / n
    top = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    out["top_tottime"] = [
        (f"{Path(f).parent.name}/{Path(f).name}:{line}({func})", tt * 1000 / n, cum * 1000 / n)
        for (f, line, func), (_cc, _nc, tt, cum, _c) in top
    ]
    return out


def checkpoint(results: dict) -> None:
    """What has been measured so far, for a look while the run goes on (or after it failed)."""
    (common.VAR / "partial.json").write_text(json.dumps(results, indent=1, default=str))


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test, not for figures)")
    args = parser.parse_args()
    quick = args.quick
    cfg = {
        "duration_s": env_int("BENCH_DURATION", 3 if quick else 10),
        "off_duration_s": env_int("BENCH_OFF_DURATION", 10 if quick else 20),
        "mix_max_seconds": env_int("BENCH_MIX_MAX_SECONDS", 60 if quick else 420),
        "repeats": env_int("BENCH_REPEATS", 1 if quick else 3),
        "connections": env_int("BENCH_CONNECTIONS", min(4, 2 * common.CORES)),
        "wrk_threads": env_int("BENCH_WRK_THREADS", min(2, common.CORES)),
        "workers": common.WORKERS,
        "cold_runs": env_int("BENCH_COLD_RUNS", 5 if quick else 15),
        "warm_per_cold": env_int("BENCH_WARM_PER_COLD", 20),
        "mix_requests": env_int("BENCH_MIX_REQUESTS", 200 if quick else 1000),
        "profile_requests": env_int("BENCH_PROFILE_REQUESTS", 100 if quick else 400),
        "members": common.MEMBERS,
    }
    started = datetime.datetime.now(datetime.UTC)
    t_start = time.monotonic()
    results: dict = {"config": cfg, "noise": [noise()], "quick": quick}
    wrk = loadgen.ensure_wrk()
    fixture = common.ensure_fixture(reseed=os.environ.get("BENCH_RESEED", "") in ("1", "yes", "true"))
    common.setup_django(CACHE_ASIDE="on")
    common.clear_cache()
    results["fixture"] = {"church": fixture.slug, "members": fixture.members, "username": fixture.username}
    results["machine"] = writeup.machine_info(wrk_version=loadgen.wrk_version(wrk))

    log(f"1. dashboard data of {fixture.slug} ({fixture.members:,} members): miss vs hit, in process")
    results["data"] = phase_data(fixture, cold_runs=cfg["cold_runs"], warm_per_cold=cfg["warm_per_cold"])
    results["noise"].append(noise())
    log("2-4. through Gunicorn")
    checkpoint(results)
    results["http"] = phase_http(fixture, wrk, duration=cfg["duration_s"], off_duration=cfg["off_duration_s"],
                                 repeats=cfg["repeats"], connections=cfg["connections"],
                                 threads=cfg["wrk_threads"], mix_n=cfg["mix_requests"],
                                 mix_max_s=cfg["mix_max_seconds"])
    checkpoint(results)
    results["noise"].append(noise())
    log("where a warm dashboard request spends its time (in process, cProfile)")
    results["profile"] = phase_profile(fixture, n=cfg["profile_requests"])
    checkpoint(results)
    # Written by `make bench-queries` (its own 1.1M-member database), which `make bench` runs first.
    results["queries_1m"] = writeup.load_queries_1m()
    results["noise"].append(noise())
    results["started"] = started.strftime("%Y-%m-%d %H:%M UTC")
    results["seconds"] = time.monotonic() - t_start
    results["command"] = writeup.command_line()

    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str))
    md = writeup.keep_sections(writeup.markdown(results), DOCS / "benchmarks.md")
    (DOCS / "benchmarks.md").write_text(md)
    html = chart.page(*writeup.chart_panels(results))
    why_not = chart.screenshot(html, DOCS / "benchmarks.png", html_copy=common.VAR / "benchmarks-chart.html")
    if why_not:
        log(f"no PNG: {why_not}")
    print()
    print(writeup.summary_text(results))
    log(f"wrote docs/benchmarks.md, docs/benchmarks.png, docs/benchmarks.json in {results['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
