"""Turning the figures of a `make bench` run into docs/benchmarks.md and the chart panels."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys

import chart
from common import CORES, ROOT

# The staff-mix goal is judged on the steady state (`steady_reduction`), not on the cold start.
GOALS = {"data_ratio": 100.0, "throughput_ratio": 10.0, "healthz_fraction": 0.30, "steady_reduction": 0.90}
QUERIES_1M = ROOT / "docs" / "bench" / "queries-1m.json"


def stats(values: list[float]) -> dict:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"median": statistics.median(ordered), "p10": pct(10), "p90": pct(90), "min": ordered[0],
            "max": ordered[-1], "n": len(ordered)}


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "?"


def machine_info(*, wrk_version: str) -> dict:
    from django.core.cache import caches
    from django.db import connection

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_gb = f"{int(line.split()[1]) / 1024 / 1024:.0f}"
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip().strip(chr(34))} (kernel {platform.release()})"
    except OSError:
        pass
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0].split(" ")[0]
    try:
        redis_version = caches["default"].client.get_client().info("server")["redis_version"]
    except Exception:
        redis_version = "?"
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "cores": CORES, "cpu": cpu, "memory_gb": mem_gb, "os": os_name,
        "python": platform.python_version(), "django": _version("Django"), "psycopg": _version("psycopg"),
        "gunicorn": _version("gunicorn"), "django_redis": _version("django-redis"),
        "postgresql": pg, "redis": redis_version, "wrk": wrk_version,
        "git": f"{git}{' + uncommitted changes' if dirty else ''}",
    }


def command_line() -> str:
    overrides = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    if os.environ.get("MAKELEVEL"):
        cmd = "make bench"
    else:
        cmd = " ".join([".venv/bin/python", "scripts/bench/run.py", *sys.argv[1:]])
    return f"{overrides} {cmd}".strip()


def load_queries_1m(path=QUERIES_1M) -> dict:
    """What `make bench-queries` last wrote (docs/bench/queries-1m.json), or why there is nothing."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.exists():
        return {"path": str(rel), "missing": f"{rel} does not exist"}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"path": str(rel), "missing": f"{rel} could not be read ({exc})"}
    if not isinstance(data, dict) or not isinstance(data.get("after"), dict):
        return {"path": str(rel), "missing": f"{rel} has no \"after\" timings"}
    return {"path": str(rel), "data": data}


def _med(runs: list[dict], key: str, sub: str | None = None) -> float:
    return statistics.median(r[key][sub] if sub else r[key] for r in runs)


def derived(r: dict) -> dict:
    """The headline figures, computed once for the markdown, the chart and the console."""
    d = {}
    data = r["data"]["summary"]
    d["miss_ms"], d["hit_ms"] = data["miss_ms"]["median"], data["hit_ms"]["median"]
    d["data_ratio"] = data["ratio"]
    off, on = r["http"]["modes"]["off"], r["http"]["modes"]["on"]
    d["off_rps"], d["on_rps"] = _med(off["dashboard"], "rps"), _med(on["dashboard"], "rps")
    # A run in which not one uncached page completed has no ratio (and says so).
    d["throughput_ratio"] = d["on_rps"] / d["off_rps"] if d["off_rps"] else float("inf")
    for mode, res in (("off", off), ("on", on)):
        for p in ("p50", "p90", "p99"):
            d[f"{mode}_{p}"] = _med(res["dashboard"], "latency_ms", p)
    d["healthz_rps"] = _med(on["healthz"], "rps") if on["healthz"] else None
    d["healthz_fraction"] = d["on_rps"] / d["healthz_rps"] if d["healthz_rps"] else None
    d["sql_warm_dashboard"] = on["sql_per_dashboard_request"]
    d["sql_off_dashboard"] = off["sql_per_dashboard_request"]
    # The staff mix twice: from an empty cache (cold start), then the steady state after it.
    d["mix_off"], d["mix_on"] = off["mix"]["sql_per_1000"], on["mix"]["sql_per_1000"]
    d["mix_reduction"] = 1 - d["mix_on"] / d["mix_off"] if d["mix_off"] else None
    if "mix_steady" in off and "mix_steady" in on:
        d["steady_off"], d["steady_on"] = off["mix_steady"]["sql_per_1000"], on["mix_steady"]["sql_per_1000"]
        d["steady_reduction"] = 1 - d["steady_on"] / d["steady_off"] if d["steady_off"] else None
    else:  # a run from before the steady state was measured
        d["steady_off"] = d["steady_on"] = d["steady_reduction"] = None
    return d


def _goal(value: float | None, goal: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value >= goal else "**not met**"


def _seed(seeds: dict, which: str) -> str:
    return f" ({seeds[which]})" if which in seeds else ""


def _pct(reduction: float | None) -> str:
    return "-" if reduction is None else f"{-reduction * 100:.0f}%"


def _ms(v: float) -> str:
    return f"{v:.3f} ms" if v < 1 else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def markdown(r: dict) -> str:
    d = derived(r)
    m, cfg, fx = r["machine"], r["config"], r["fixture"]
    off, on = r["http"]["modes"]["off"], r["http"]["modes"]["on"]
    members = f"{fx['members']:,}"
    L: list[str] = []
    add = L.append
    add("# Benchmarks")
    add("")
    add(f"Measured by `{r['command']}` on {r['started']} ({r['seconds'] / 60:.1f} minutes), on "
        f"{m['cores']} cores, PostgreSQL {m['postgresql']} + Redis {m['redis']}, Gunicorn with "
        f"{cfg['workers']} workers (one per core). Every figure below comes from that one run; the raw "
        "figures are in [benchmarks.json](benchmarks.json). Rerun it with `make bench` (see the end).")
    if r.get("quick"):
        add("")
        add("> **Quick run (`--quick`)**: short durations, one repeat. A smoke test, not figures to quote.")
    add("")
    add("![Benchmark chart](benchmarks.png)")
    add("")
    add("## Summary")
    add("")
    add("| what | cache off / miss | cache on / hit | change | goal |")
    add("| --- | ---: | ---: | ---: | --- |")
    add(f"| Dashboard data of a {members}-member church (median, in process) | {_ms(d['miss_ms'])} | "
        f"{_ms(d['hit_ms'])} | **{d['data_ratio']:.0f}x faster** | ≥ 100x: {_goal(d['data_ratio'], 100)} |")
    add(f"| Dashboard page throughput (wrk, {cfg['connections']} connections) | {d['off_rps']:.1f} req/s | "
        f"{d['on_rps']:.1f} req/s | **{d['throughput_ratio']:.1f}x** | ≥ 10x: {_goal(d['throughput_ratio'], 10)} |")
    add(f"| Dashboard page latency p50 / p99 | {_ms(d['off_p50'])} / {_ms(d['off_p99'])} | "
        f"{_ms(d['on_p50'])} / {_ms(d['on_p99'])} | | |")
    if d["healthz_fraction"] is not None:
        add(f"| Warm dashboard throughput as a fraction of `/healthz` ({d['healthz_rps']:.0f} req/s) | | "
            f"{d['on_rps']:.1f} req/s | **{d['healthz_fraction']:.2f}** | ≥ 0.30: "
            f"{_goal(d['healthz_fraction'], 0.30)} |")
    else:
        add("| Warm dashboard vs `/healthz` | | | not measured (`/healthz` did not answer 200) | ≥ 0.30 |")
    add(f"| SQL statements per dashboard request | {d['sql_off_dashboard']:.2f} | {d['sql_warm_dashboard']:.2f} | "
        f"| 0 when warm: {'met' if d['sql_warm_dashboard'] == 0 else '**not met**'} |")
    red = d["mix_reduction"]
    steady = d["steady_reduction"]
    if d["steady_off"] is not None:
        add(f"| SQL statements per 1,000 staff-mix requests, **steady state** (cache as warm as the previous "
            f"{cfg['mix_requests']:,} requests left it) | {d['steady_off']:,.0f} | {d['steady_on']:,.0f} | "
            f"**{_pct(steady)}** | ≥ -90%: {_goal(steady, 0.90)} |")
    else:
        add("| SQL statements per 1,000 staff-mix requests, steady state | | | not measured in this run | "
            "≥ -90%: not measured |")
    add(f"| SQL statements per 1,000 staff-mix requests, **from an empty cache** (cold start) | "
        f"{d['mix_off']:,.0f} | {d['mix_on']:,.0f} | **{_pct(red)}** | shown beside it; the goal is judged "
        "on the steady state |")
    add("")
    rows = r["data"].get("rows_aggregate")
    if rows and d["data_ratio"] < GOALS["data_ratio"]:
        miss_cut = rows["ms"]["median"] / d["miss_ms"]
        add(f"Why the first two ratios fall short: a miss no longer aggregates the church's rows. The per-church "
            f"counters (`members/tallies.py`) serve the same figures in four small queries, {_ms(d['miss_ms'])} "
            f"instead of {_ms(rows['ms']['median'])} for the row aggregates (measured in this run, section 1): "
            f"{miss_cut:.0f}x cheaper. Against that former miss a hit is {rows['ratio_to_hit']:,.0f}x faster; "
            "with the cache off the page now runs four small queries instead of four aggregates, so it "
            "leaves the cache less to win. The goals were set for row aggregates; both sides are faster now.")
        add("")

    # 1
    add(f"## 1. Dashboard data: cache miss vs hit ({members} members)")
    add("")
    add("In process (no HTTP): `analytics.selectors.dashboard_summary(church=...)` timed with "
        "`time.perf_counter`. A *miss* follows an invalidation through the real write path "
        "(`cache_aside.invalidate(keys.STATS, ...)`, a generation bump), so it pays the generation "
        "read, the miss, the stampede lock, the aggregate queries and the store; a *hit* is the "
        f"generation read plus one GET. {cfg['cold_runs']} misses, each followed by "
        f"{cfg['warm_per_cold']} hits ({r['data']['fragment']['miss_ms']['n']} misses for the fragment). The rendered fragment (`dashboard_fragment`: figures + SVG "
        "charts as HTML, what the page actually reads) is measured the same way.")
    add("")
    add("| read | miss median | miss p10–p90 | SQL on miss | hit median | hit p10–p90 | SQL on hit | miss / hit |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label in (("summary", "`dashboard_summary`"), ("fragment", "`dashboard_fragment`")):
        x = r["data"][name]
        add(f"| {label} | {_ms(x['miss_ms']['median'])} | {_ms(x['miss_ms']['p10'])}–{_ms(x['miss_ms']['p90'])} | "
            f"{x['miss_sql']} | {_ms(x['hit_ms']['median'])} | {_ms(x['hit_ms']['p10'])}–{_ms(x['hit_ms']['p90'])} | "
            f"{x['hit_sql']} | **{x['ratio']:.0f}x** |")
    add("")
    rows = r["data"].get("rows_aggregate")
    if rows:
        add(f"A miss reads the church's per-church counters (`members/tallies.py`: four small queries). For "
            f"context, the same figures aggregated from the member, membership and attendance rows, as the "
            f"dashboard computed them before the counters: **{_ms(rows['ms']['median'])}** median "
            f"({_ms(rows['ms']['p10'])}–{_ms(rows['ms']['p90'])}, {rows['ms']['n']} runs): a cache hit is "
            f"**{rows['ratio_to_hit']:,.0f}x** faster than that, and the counters made every miss "
            f"{rows['ms']['median'] / r['data']['summary']['miss_ms']['median']:.0f}x cheaper.")
        add("")

    # 2
    add("## 2. Dashboard page throughput: `CACHE_ASIDE=off` vs on")
    add("")
    add(f"Two Gunicorn servers in turn (`gunicorn -c gunicorn.conf.py churchapp.wsgi`, "
        f"WEB_CONCURRENCY={cfg['workers']}, the configured worker class and threads, access log on, "
        f"DEBUG off), the same {members}-member church, the same staff session: logged in once "
        f"through the login form, its cookie passed to `wrk -t{cfg['wrk_threads']} -c{cfg['connections']} "
        f"-d{cfg['duration_s']}s` on `/dashboard/`. {cfg['repeats']} runs per side; the median is reported. "
        "Any answer other than 200 (a redirect to the login page, say) fails the run. wrk shares the "
        f"{m['cores']} cores with the server, PostgreSQL and Redis.")
    add("")
    add("| side | run | req/s | p50 | p75 | p90 | p99 | max | requests |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, res in (("cache off", off), ("cache on", on)):
        for i, run in enumerate(res["dashboard"], 1):
            lat = run["latency_ms"]
            add(f"| {mode} | {i} | {run['rps']:.1f} | {_ms(lat['p50'])} | {_ms(lat['p75'])} | {_ms(lat['p90'])} | "
                f"{_ms(lat['p99'])} | {_ms(lat['max'])} | {run['requests']:,} |")
    add("")
    add(f"Median: **{d['off_rps']:.1f} → {d['on_rps']:.1f} req/s ({d['throughput_ratio']:.1f}x)**; "
        f"p50 {_ms(d['off_p50'])} → {_ms(d['on_p50'])}, p99 {_ms(d['off_p99'])} → {_ms(d['on_p99'])}. "
        f"The page showed `members_total` = {on['members_total_shown']}.")
    add("")

    # 3
    add("## 3. Warm dashboard vs `/healthz` on the same server")
    add("")
    if on["healthz"]:
        add("`/healthz` does no I/O: its throughput is the ceiling of this server on this machine (WSGI, "
            "Gunicorn, the middleware stack for an anonymous request). Runs alternate with the dashboard runs "
            "of the cache-on server above.")
        add("")
        add("| run | /healthz req/s | p50 | p99 | warm /dashboard/ req/s | fraction |")
        add("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, (h, dash) in enumerate(zip(on["healthz"], on["dashboard"]), 1):
            add(f"| {i} | {h['rps']:.1f} | {_ms(h['latency_ms']['p50'])} | {_ms(h['latency_ms']['p99'])} | "
                f"{dash['rps']:.1f} | {dash['rps'] / h['rps']:.2f} |")
        add("")
        add(f"Median: {d['on_rps']:.1f} / {d['healthz_rps']:.1f} = **{d['healthz_fraction']:.2f}**.")
    else:
        add("Not measured: `/healthz` did not answer 200 on this build.")
    add("")

    # 4
    add("## 4. SQL statements: warm dashboard and the staff mix")
    add("")
    add("Counted by `cachemon.db_queries.DBQueryCountMiddleware` (an `execute_wrapper` per request, "
        "first in the stack after django-prometheus) into `flock_db_queries_total{view=...}`, read "
        "from `/metrics` (summed over all Gunicorn workers) before and after each phase; only the "
        "views of the phase are counted, so the `/metrics` reads themselves do not count.")
    add("")
    add(f"- Dashboard, during the wrk runs above: cache off **{d['sql_off_dashboard']:.2f}** statements "
        f"per request ({off['dashboard_sql']:,.0f} over {off['dashboard_requests']:,} requests); cache on "
        f"**{d['sql_warm_dashboard']:.2f}** ({on['dashboard_sql']:,.0f} over {on['dashboard_requests']:,}).")
    weights = ", ".join(f"{k} {w}%" for k, w in r["http"]["mix_weights"].items())
    tg = r["http"]["targets"]
    mixes = [("mix_steady", "Steady state", d["steady_off"], d["steady_on"], steady)] if "mix_steady" in on else []
    mixes.append(("mix", "From an empty cache (cold start)", d["mix_off"], d["mix_on"], red))
    seeds = r["http"].get("mix_seeds", {})
    add(f"- The staff mix: sequences of {cfg['mix_requests']:,} requests drawn from {weights}, over "
        f"{on['mix']['clients']} keep-alive connections with the same session. Member details pick from "
        f"{len(tg['member_ids'])} members spread over the church, rosters from {len(tg['group_ids'])} "
        f"groups, searches from {len(tg['terms'])} name prefixes ({', '.join(tg['terms'])}). Both sides "
        "send exactly the same requests (cache off goes first; cache on replays what it sent). On each "
        "server, one after the other:")
    add("  1. **From an empty cache (cold start)**: a sequence drawn with a fixed seed"
        f"{_seed(seeds, 'cold')}, sent after the bench's data keys were deleted by prefix (the session "
        "kept), so every first visit is a miss and counts.")
    if "mix_steady" in on:
        add(f"  2. **Steady state**: right after it, a second sequence drawn with another fixed seed"
            f"{_seed(seeds, 'steady')} over the same members, groups and search terms, sent without "
            "clearing the cache: it starts as warm as the first sequence left it, as during a working day. "
            "The goal (≥ -90% SQL with the cache) is judged on this one; the cold start is shown beside it.")
    else:
        add("  2. Steady state: not measured in this run.")
    add("")
    for key, label, *_ in mixes:
        if on[key]["requests"] < cfg["mix_requests"]:
            add(f"{label}: the cache-off side ran out of its time budget (BENCH_MIX_MAX_SECONDS="
                f"{cfg['mix_max_seconds']}) after {on[key]['requests']:,} of {cfg['mix_requests']:,} requests; "
                "the cache-on side sent exactly the same requests. Figures are scaled to 1,000.")
            add("")
    add("| staff mix | SQL per 1,000 requests, cache off | cache on | change | cache-aside hits / misses (cache on) |")
    add("| --- | ---: | ---: | ---: | ---: |")
    for key, label, so, sn, reduction in mixes:
        c = on[key]["cache"]
        add(f"| {label} | {so:,.0f} | {sn:,.0f} | **{_pct(reduction)}** | "
            f"{c['hits']:,.0f} / {c['misses']:,.0f} |")
    add("")
    kinds_of_view = {"dashboard": ("dashboard",), "member_list": ("member list, page 1", "member list, page 2",
                                                                 "member search"),
                     "member_detail": ("member detail",), "group_list": ("group list",),
                     "group_detail": ("group roster",)}
    for key, label, so_all, sn_all, reduction in mixes:
        add(f"### Staff mix, {label[0].lower()}{label[1:]}: SQL per view")
        add("")
        add("| view | requests | SQL, cache off | SQL, cache on | per request, off → on |")
        add("| --- | ---: | ---: | ---: | ---: |")
        for view in off[key]["sql_by_view"]:
            n = sum(on[key]["count"].get(k, 0) for k in kinds_of_view.get(view, ())) or 1
            so, sn = off[key]["sql_by_view"][view], on[key]["sql_by_view"][view]
            add(f"| `{view}` | {n:,} | {so:,.0f} | {sn:,.0f} | {so / n:.2f} → {sn / n:.2f} |")
        add(f"| **all, per 1,000 requests** | 1,000 | **{so_all:,.0f}** | **{sn_all:,.0f}** "
            f"({_pct(reduction)}) | |")
        add("")
        c = on[key]["cache"]
        total = c["hits"] + c["misses"]
        if total:
            add(f"Cache-aside during the cache-on side: {c['hits']:,.0f} hits, {c['misses']:,.0f} misses, "
                f"{c['errors']:,.0f} errors (hit ratio {c['hits'] / total:.1%}).")
            add("")
    add(f"### Staff mix: median latency per kind of request (client side, {on['mix']['clients']} connections)")
    add("")
    add("| request | " + " | ".join(f"{label.split(' (')[0].lower()}: count | p50, cache off | p50, cache on"
                                    for _, label, *_ in mixes) + " |")
    add("| --- | " + " | ".join("---: | ---: | ---:" for _ in mixes) + " |")
    for kind in r["http"]["mix_weights"]:
        cells = []
        for key, *_ in mixes:
            if kind in on[key]["p50_ms"] and kind in off[key]["p50_ms"]:
                cells.append(f"{on[key]['count'][kind]} | {_ms(off[key]['p50_ms'][kind])} | "
                             f"{_ms(on[key]['p50_ms'][kind])}")
            else:
                cells.append("0 | - | -")
        add(f"| {kind} | " + " | ".join(cells) + " |")
    add("| **whole mix, req/s** | " + " | ".join(f"| {off[key]['rps']:.1f} | {on[key]['rps']:.1f}"
                                                 for key, *_ in mixes) + " |")
    add("")

    # profile
    p = r["profile"]
    add("## Where a warm dashboard request spends its time")
    add("")
    add(f"In process, with Django's test `Client` (no socket, no Gunicorn), cache on, DEBUG off, "
        f"{p['n']} requests each, after 50 warm-up requests:")
    add("")
    add("| request | ms per request (in process) |")
    add("| --- | ---: |")
    for path in ("/healthz", "/accounts/login/", "/dashboard/"):
        if path in p:
            add(f"| `GET {path}` | {p[path]:.3f} |")
    add("")
    if p.get("components_ms"):
        add("Its pieces timed one by one (no profiler), ms each:")
        add("")
        add("| piece | ms |")
        add("| --- | ---: |")
        for label, ms in p["components_ms"]:
            add(f"| {label} | {ms:.3f} |")
        add("")
    if p.get("components_ms") and "/dashboard/" in p and "/healthz" in p:
        pieces = dict(p["components_ms"])
        user_ms = pieces.get("session load + request.user (3 GETs)", 0)
        frag_ms = pieces.get("dashboard_fragment, warm (2 GETs)", 0)
        chrome_ms = pieces.get("page chrome render around the fragment", 0)
        rest = p["/dashboard/"] - p["/healthz"] - user_ms - frag_ms - chrome_ms
        add(f"Reading: a warm dashboard costs {p['/dashboard/'] - p['/healthz']:.2f} ms more than `/healthz` in "
            f"process: session + user {user_ms:.2f} ms, the cached fragment {frag_ms:.2f} ms, the page chrome "
            f"(base.html: nav URL reversals, static tag, CSRF token, messages) {chrome_ms:.2f} ms, and "
            f"{max(rest, 0):.2f} ms elsewhere (the middleware work an authenticated page adds: session cookie "
            "and Vary headers, CSRF cookie, messages; the larger response).")
        add("")
    add(f"Then {p['n']} warm dashboard requests under cProfile ({p['profiled_total_ms']:.2f} ms per request "
        "with the profiler's overhead; the parts overlap where one calls the other, e.g. the page render "
        "includes the fragment read):")
    add("")
    add("| part | ms per request (cumulative) | share |")
    add("| --- | ---: | ---: |")
    for label, ms in p["parts_ms"]:
        add(f"| {label} | {ms:.3f} | {ms / p['profiled_total_ms']:.0%} |")
    add("")
    add(f"Per warm dashboard request: {p['redis_round_trips']:.1f} Redis round trips, "
        f"{p['sql_statements']:.1f} SQL statements. The test `Client` adds a little of its own "
        "(it connects a signal per request).")
    add("")
    add("Functions with the most own time (ms per request: own, cumulative):")
    add("")
    add("| function | own | cumulative |")
    add("| --- | ---: | ---: |")
    for name, tt, ct in p["top_tottime"]:
        add(f"| `{name}` | {tt:.3f} | {ct:.3f} |")
    add("")

    L.extend(hot_queries_1m_section(r.get("queries_1m") or load_queries_1m(), started=r["started"]))
    L.extend(messaging_section())

    # machine
    add("## Machine, versions and method")
    add("")
    add(f"- Date: {r['started']}; git {m['git']}")
    add(f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, {m['os']}")
    add(f"- Python {m['python']}, Django {m['django']}, psycopg {m['psycopg']}, django-redis {m['django_redis']}, "
        f"Gunicorn {m['gunicorn']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, {m['wrk']}")
    add(f"- Data: `seed_demo --churches 1 --members {cfg['members']:,} --seed 1` (the bench church, "
        f"`{fx['church']}`) plus smaller tenants in the same tables, in the database of "
        "`BENCH_DATABASE_URL`; seeded once, reused by later runs (`BENCH_RESEED=1` starts afresh).")
    add(f"- Command: `{r['command']}`")
    add("- Everything runs on this one machine and talks to 127.0.0.1 only; the load generator competes with "
        "the server for the same cores, so absolute req/s are lower than on a dedicated server; the ratios "
        "are the figures to compare.")
    add("")
    add("Other activity on the machine during the run (other engineers' test runs are noise):")
    add("")
    add("| when (UTC) | load average, 1 min | pytest processes | other Gunicorn processes |")
    add("| --- | ---: | ---: | ---: |")
    for n in r["noise"]:
        add(f"| {n['at']} | {n['loadavg_1m']:.2f} | {n['pytest_processes']} | {n['other_gunicorn_processes']} |")
    add("")
    add("## Rerun")
    add("")
    add("```sh")
    add("make bench          # make bench-queries (database flock_bench), then this page's dashboard bench:")
    add("                    # PostgreSQL 127.0.0.1:5432 (database flock_benchdash) + Redis 6379 db 9")
    add("make bench-queries  # only the hot queries at a million members (docs/bench/queries-1m.json)")
    add("BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mybench BENCH_REDIS_URL=redis://127.0.0.1:6379/5 make bench")
    add("BENCH_DURATION=5 BENCH_REPEATS=1 BENCH_MIX_REQUESTS=300 .venv/bin/python scripts/bench/run.py"
        "   # dashboard only, quicker, noisier")
    add("```")
    add("")
    add("Other knobs: `BENCH_MEMBERS` (100000), `BENCH_CONNECTIONS` (2 x cores, at most 4), `BENCH_WORKERS` "
        "(cores), `BENCH_COLD_RUNS`, `BENCH_RESEED=1`. The first run seeds the database (a minute or two); "
        "later runs reuse it. wrk is installed with apt-get when missing and running as root.")
    add("")
    return "\n".join(L)


def _age(measured_at: str, started: str) -> str | None:
    """How long before this run's start the hot queries were measured ("12 minutes"), if both parse."""
    fmt = "%Y-%m-%d %H:%M UTC"
    try:
        delta = datetime.datetime.strptime(started, fmt) - datetime.datetime.strptime(measured_at, fmt)
    except (TypeError, ValueError):
        return None
    minutes = int(delta.total_seconds() // 60)
    if minutes < 0:
        return None
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60)} days"


def messaging_section() -> list[str]:
    """"Messaging", from what `make bench-messaging` last wrote (docs/bench/messaging.json)."""
    from texts import JSON_PATH, section

    data = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    return section(data)


def hot_queries_1m_section(hq: dict, *, started: str) -> list[str]:
    """"Hot queries at a million members", from what `make bench-queries` wrote (or why it is missing)."""
    L = ["## Hot queries at a million members", ""]
    data = hq.get("data")
    if data is None:
        L += [f"Missing: {hq.get('missing', 'docs/bench/queries-1m.json was not read')}. Produce it with "
              "`make bench-queries` (each hot query before and after the critical indices and the counters, "
              "on its own database of 1.1M members in 201 churches, seeded the first time; ~4.5 minutes with the seed), "
              "or run `make bench`, which runs it first and then writes this page.", ""]
        return L
    before, after = data.get("before") or {}, data["after"]
    when = f"Measured {data.get('measured_at', '(time not recorded)')}"
    age = _age(data.get("measured_at"), started)
    if age is not None:
        when += f", {age} before the dashboard run above started ({started})"
    members = data.get("members_total")
    size = (f"{members:,} members in {data.get('churches', '?')} churches" if isinstance(members, int)
            else "(data size not recorded)")
    church = (f"; the timed church `{data['church']}` has {data['church_members']:,} members (search "
              f"`{data.get('search', '?')}`, phone search `{data.get('phone_search', '?')}`, "
              f"deep page {data.get('deep_page', '?')})"
              if data.get("church") and isinstance(data.get("church_members"), int) else "")
    L += [f"{when}, by `make bench-queries` (`scripts/bench_queries.py --seed --report queries-1m`, its own "
          f"database `BENCH_QUERIES_DATABASE_URL`, cache off) on PostgreSQL {data.get('postgres', '?')}: "
          f"{size}{church}. Each hot query of `members/hot_queries.py` before the critical indices and "
          "the per-church counters and after them (how: `scripts/bench_queries.py`). Median of "
          f"{data.get('runs', '?')} runs through the ORM (the page's own call: Python and the round trip "
          "included), ms; *database ms* is PostgreSQL's execution time of the same SQL (EXPLAIN ANALYZE, one "
          "run); the index column is what EXPLAIN ANALYZE "
          f"showed after. Machine: {data.get('machine', '?')}. Its own report, with deep-page pagination: "
          "[bench/queries-1m.md](bench/queries-1m.md).", ""]
    L += ["| query | before ms | after ms | speed-up | database ms before → after | index after |",
          "| --- | ---: | ---: | ---: | ---: | --- |"]
    marked = False
    for name, row in after.items():
        b, a = (before.get(name) or {}).get("ms"), row.get("ms")
        speed = f"{b / a:.1f}x" if b and a else "-"
        index = ", ".join(row.get("indexes") or []) or "-"
        if row.get("seq_scans"):
            index += f" (seq scan: {', '.join(row['seq_scans'])})"
        mark = " \\*" if row.get("counters") else ""
        marked = marked or bool(mark)
        title = f"{row['title']} (`{name}`)" if row.get("title") else f"`{name}`"
        db_b, db_a = (before.get(name) or {}).get("db_ms"), row.get("db_ms")
        db = f"{db_b if db_b is not None else '-'} → {db_a if db_a is not None else '-'}"
        L.append(f"| {title}{mark} | {b if b is not None else '-'} | {a if a is not None else '-'} | {speed} | "
                 f"{db} | {index} |")
    L.append("")
    if marked:
        L += ["\\* reads the per-church counters after, aggregated the rows before.", ""]
    seed = data.get("seed")
    if seed:
        L += ["Seed timings (`manage.py seed_demo`, wall clock): "
              + ", ".join(f"{k}: {v} s" for k, v in seed.items()) + ".", ""]
    else:
        L += [f"No seed timings in {hq['path']} (only a run that seeds the database records them).", ""]
    return L


def chart_panels(r: dict) -> tuple[str, str, list[str]]:
    d = derived(r)
    members = f"{r['fixture']['members']:,}"
    panels = [
        chart.hbar_panel(
            f"Dashboard data, {members} members", "median time of dashboard_summary, in process (lower is better)",
            [("cache miss", d["miss_ms"], _ms(d["miss_ms"]), chart.BEFORE),
             ("cache hit", d["hit_ms"], _ms(d["hit_ms"]), chart.AFTER)],
            note=f"{d['data_ratio']:.0f}x faster on a hit",
        ),
        chart.hbar_panel(
            "Dashboard page throughput", f"req/s through Gunicorn ({r['config']['workers']} workers), "
                                         "wrk, median of runs (higher is better)",
            [("cache off", d["off_rps"], f"{d['off_rps']:.1f} req/s", chart.BEFORE),
             ("cache on", d["on_rps"], f"{d['on_rps']:.1f} req/s", chart.AFTER)]
            + ([("/healthz", d["healthz_rps"], f"{d['healthz_rps']:.0f} req/s", chart.REFERENCE)]
               if d["healthz_rps"] else []),
            note=f"{d['throughput_ratio']:.1f}x with the cache"
                 + (f"; {d['healthz_fraction']:.2f} of /healthz" if d["healthz_fraction"] else ""),
        ),
        chart.hbar_panel(
            "Dashboard page latency", "p50 and p99 under the same load, ms (lower is better)",
            [("cache off p50", d["off_p50"], _ms(d["off_p50"]), chart.BEFORE),
             ("cache off p99", d["off_p99"], _ms(d["off_p99"]), chart.BEFORE),
             ("cache on p50", d["on_p50"], _ms(d["on_p50"]), chart.AFTER),
             ("cache on p99", d["on_p99"], _ms(d["on_p99"]), chart.AFTER)],
        ),
        chart.hbar_panel(
            "SQL per 1,000 staff requests", "staff mix: steady state (the goal) and cold start (empty cache)",
            ([("steady, cache off", d["steady_off"], f"{d['steady_off']:,.0f}", chart.BEFORE),
              ("steady, cache on", d["steady_on"], f"{d['steady_on']:,.0f}", chart.AFTER)]
             if d["steady_off"] is not None else [])
            + [("cold, cache off", d["mix_off"], f"{d['mix_off']:,.0f}", chart.BEFORE),
               ("cold, cache on", d["mix_on"], f"{d['mix_on']:,.0f}", chart.AFTER)],
            note=(f"steady state {_pct(d['steady_reduction'])}" if d["steady_off"] is not None
                  else "steady state not measured")
                 + f", cold start {_pct(d['mix_reduction'])}; warm dashboard "
                   f"{d['sql_warm_dashboard']:.2f} SQL/request",
        ),
    ]
    m = r["machine"]
    caption = (f"make bench, {r['started']}: {m['cores']} cores, PostgreSQL {m['postgresql']}, Redis {m['redis']}, "
               f"Gunicorn {r['config']['workers']} workers; grey = cache off / miss, blue = cache on / hit")
    return "Flock: what the cache buys", caption, panels


def summary_text(r: dict) -> str:
    d = derived(r)
    lines = [
        f"dashboard data ({r['fixture']['members']:,} members): miss {_ms(d['miss_ms'])}, hit {_ms(d['hit_ms'])}: "
        f"{d['data_ratio']:.0f}x (goal 100x)",
        f"dashboard page: {d['off_rps']:.1f} -> {d['on_rps']:.1f} req/s: {d['throughput_ratio']:.1f}x (goal 10x); "
        f"p50 {_ms(d['off_p50'])} -> {_ms(d['on_p50'])}",
    ]
    if d["healthz_fraction"] is not None:
        lines.append(f"warm dashboard / healthz: {d['on_rps']:.1f} / {d['healthz_rps']:.1f} = "
                     f"{d['healthz_fraction']:.2f} (goal 0.30)")
    lines.append(f"SQL per warm dashboard request: {d['sql_warm_dashboard']:.2f} (goal 0)")
    if d["steady_reduction"] is not None:
        lines.append(f"SQL per 1,000 staff-mix requests, steady state: {d['steady_off']:,.0f} -> "
                     f"{d['steady_on']:,.0f}: {_pct(d['steady_reduction'])} (goal -90%)")
    if d["mix_reduction"] is not None:
        lines.append(f"SQL per 1,000 staff-mix requests, from an empty cache (cold start): {d['mix_off']:,.0f} -> "
                     f"{d['mix_on']:,.0f}: {_pct(d['mix_reduction'])}")
    hq = r.get("queries_1m") or load_queries_1m()
    if hq.get("data"):
        lines.append(f"hot queries at a million members: {len(hq['data']['after'])} queries from {hq['path']} "
                     f"(measured {hq['data'].get('measured_at', '?')})")
    else:
        lines.append(f"hot queries at a million members: missing ({hq.get('missing', 'not read')}); "
                     "make bench-queries writes it")
    return "\n".join(lines)


_SECTION = re.compile(r"<!-- ([a-z0-9-]+) -->\n.*?<!-- /\1 -->\n?", re.S)


def keep_sections(markdown_text: str, old_path) -> str:
    """The new docs/benchmarks.md plus the marked sections other benchmarks wrote into the old
    one (`<!-- name -->` ... `<!-- /name -->`, e.g. make bench-cluster's), which this run did not
    measure: rewriting the file must not lose them."""
    try:
        old = old_path.read_text()
    except FileNotFoundError:
        return markdown_text
    kept = [m.group(0) for m in _SECTION.finditer(old) if f"<!-- {m.group(1)} -->" not in markdown_text]
    if not kept:
        return markdown_text
    return markdown_text.rstrip("\n") + "\n\n" + "\n".join(k.rstrip("\n") + "\n" for k in kept)

