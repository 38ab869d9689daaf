"""docs/capacity.md, docs/capacity.png and the console summary of `make capacity`, from its results.

`build` refuses (exit 1, naming the figure) to write a report with a missing or non-finite
figure: a report is either whole or not written.
"""

from __future__ import annotations

import math
import statistics
import sys

import chart

GOAL_RATIO = 10.0
MB = 1024.0


class Missing(Exception):
    pass


def _num(value, what: str) -> float:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Missing(what)
    return float(value)


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(_num(r["all"][key] if r.get("all") else None, key) for r in runs)


def cores(step: dict, group: str) -> float:
    return _num(step["cpu_s"].get(group), f"CPU of {group}") / _num(step["wall_s"], "wall")


def other_cores(step: dict) -> float:
    """CPU the machine spent on anything but the measured processes (other work on a shared box)."""
    ours = sum(step["cpu_s"][g] for g in ("gunicorn", "postgres", "redis", "generator"))
    return max(0.0, step["cpu_s"]["machine"] - ours) / step["wall_s"]


def gen_share(step: dict) -> float:
    """The load generator's share of the machine's CPU time in the step (all cores)."""
    return cores(step, "generator") / _CORES[0]


_CORES = [1]


def median_step(runs: list[dict]) -> dict:
    """The run whose p95 is the median one (its other figures go with it)."""
    ordered = sorted(runs, key=lambda r: r["all"]["p95"] if r.get("all") else math.inf)
    return ordered[len(ordered) // 2]


def per_request(step: dict) -> dict:
    n = _num(step["server_requests"], "server requests") or 1
    return {"sql": step["sql"] / n, "pg_cpu_per_1000": step["cpu_s"]["postgres"] * 1000 / n,
            "app_cpu_ms": step["cpu_s"]["gunicorn"] * 1000 / n}


def figures(results: dict) -> dict:
    """The derived figures of every configuration (everything the tables print)."""
    _CORES[0] = results["machine"].get("cores") or 1
    out = {}
    for name, cfg in results["configs"].items():
        cap_runs = cfg["repeats"]
        at80 = cfg["at80"]["runs"]
        m80 = median_step(at80)
        mcap = median_step(cap_runs)
        rss = [k for k in m80["rss_kb"] if k]
        f = {
            "capacity": _num(cfg["capacity_rps"], f"{name} capacity"), "below": cfg.get("below_rps"),
            "cap_busy": sum(cores(mcap, g) for g in ("gunicorn", "postgres", "redis", "generator")) / _CORES[0],
            "probe": cfg.get("probe_rps"),
            "cap_p50": median_of(cap_runs, "p50"), "cap_p95": median_of(cap_runs, "p95"),
            "cap_p99": median_of(cap_runs, "p99"), "cap_runs": len(cap_runs), "cap_gen": gen_share(mcap),
            "rate80": _num(cfg["at80"]["rate_rps"], f"{name} 80% rate"), "of_after": cfg["at80"]["of_after"],
            "p50_80": median_of(at80, "p50"), "p95_80": median_of(at80, "p95"), "p99_80": median_of(at80, "p99"),
            "runs80": len(at80), "gen80": gen_share(m80),
            "pages80": {page: (statistics.median(_num(r["pages"][page]["p50"], page) for r in at80 if page in r["pages"]),
                               statistics.median(_num(r["pages"][page]["p95"], page) for r in at80 if page in r["pages"]))
                        for page in m80["pages"]},
            **per_request(m80),
            "cpu": {g: cores(m80, g) for g in ("gunicorn", "postgres", "redis", "generator", "machine")},
            "rss_mb": statistics.median(rss) / MB if rss else None,
            "workers": cfg["workers"],
        }
        if f["rss_mb"] is None:
            raise Missing(f"RSS of {name}'s workers")
        if "hup" in cfg:
            h = cfg["hup"]
            f["hup"] = {"failures": int(h["failures"]), "requests": int(h["requests"]),
                        "reload_s": _num(h["during"].get("reload_s"), "reload seconds"),
                        "p99": _num(h["all"]["p99"], "p99 across the HUP"), "max": h["all"]["max"],
                        "rate": h["offered_rps"]}
        out[name] = f
    return out


def goals(results: dict, fig: dict) -> list[tuple[str, str, bool | None, str]]:
    """(goal, figure, met, note); met None when this run did not measure it."""
    after = fig["after"]
    rows = []
    if "before" in fig:
        b = fig["before"]
        ratio = after["capacity"] / (b["capacity"] or b["below"])
        rows.append(("after ÷ before capacity ≥ 10×", f"{'> ' if not b['capacity'] else ''}{ratio:.1f}× "
                     f"({after['capacity']:.0f} ÷ {cap_text(b)} req/s)", ratio >= GOAL_RATIO, "the seed claimed 3.6–4×"))
    hz = _num(results["configs"]["after"]["healthz"]["median"], "healthz rate")
    share = after["capacity"] / hz
    rows.append(("staff-mix capacity ≥ 0.25 × /healthz", f"{share:.2f} ({after['capacity']:.0f} ÷ {hz:.0f} req/s)",
                 share >= 0.25, "/healthz: wrk, closed loop, same server"))
    tail = after["p99_80"] / after["p50_80"]
    rows.append(("p99 ≤ 4 × p50 at 80 % of capacity", f"{tail:.1f}× (p99 {after['p99_80']:.1f} ms, p50 "
                 f"{after['p50_80']:.1f} ms at {after['rate80']:.0f} req/s)", tail <= 4, "all pages of the mix together"))
    if "cache off" in fig:
        sql_on, sql_off = after["sql"] * 1000, fig["cache off"]["sql"] * 1000
        rows.append(("SQL per 1,000 staff-mix requests ≤ 10 % of cache off", f"{sql_on:.0f} vs {sql_off:.0f} "
                     f"({sql_on / sql_off:.0%}, {sql_on / sql_off - 1:+.0%})", sql_on <= 0.10 * sql_off,
                     "steady state: the 80 % steps"))
    dash = _num(results["configs"]["after"]["dashboard"]["median"], "dashboard rate")
    rows.append(("warm dashboard ≥ 0.30 × /healthz", f"{dash / hz:.2f} ({dash:.0f} ÷ {hz:.0f} req/s)",
                 dash / hz >= 0.30, "wrk, one logged-in session"))
    data = results["dashboard_data"]["summary"]
    miss, hit = _num(data["miss_ms"]["median"], "miss"), _num(data["hit_ms"]["median"], "hit")
    rows.append(("dashboard miss ≤ 50 × hit at the 100,000-member church", f"{miss / hit:.0f}× (miss {miss:.2f} ms, "
                 f"hit {hit:.3f} ms)", miss / hit <= 50, "in process, medians"))
    return rows


def cap_text(f: dict) -> str:
    """The capacity, or "< lowest rate tried" where p95 stayed above the bound at every rate."""
    return f"< {f['below']:.1f}" if not f["capacity"] else f"{f['capacity']:.1f}"


def _ms(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def build(results: dict) -> str:
    try:
        return _build(results)
    except (Missing, KeyError, TypeError, ZeroDivisionError) as exc:
        print(f"[capacity] ERROR: a figure is missing from the results ({type(exc).__name__}: {exc}); "
              "no report written. The partial results are in var/capacity/capacity-partial.json.",
              file=sys.stderr)
        sys.exit(1)


def _build(results: dict) -> str:
    fig = figures(results)
    m = results["machine"]
    after = fig["after"]
    L = ["# Capacity: the staff mix before and after Phase 1", ""]
    mode = " (quick mode: short steps, a development run, not for figures)" if results["quick"] else ""
    mode = (" (tiny mode: the test's two short steps, judged on failures alone, not for figures)"
            if results["tiny"] else mode)
    seed = results["seed"]
    L.append(f"`{results['command']}` on {results['started']}{mode}: {results['seconds'] / 60:.1f} minutes in all, "
             f"data preparation included ({seed['seconds']:.0f} s: "
             + (f"seeded, {', '.join(f'{k} {v} s' for k, v in seed.get('seed', {}).items())}" if seed.get("seeded")
                else "the seeded database reused") + f"; the \"before\" copy {results['before_db']['copy_s']} s, "
             f"its index drops {results['before_db']['indices_s']} s).")
    L.append("")
    L.append(f"Machine: {m.get('cpu', '?')}, **{m.get('cores', '?')} cores**, {m.get('memory_gb', '?')} GB; "
             f"{m.get('os', '')}; Python {m.get('python', '')}, PostgreSQL {m.get('postgresql', '')}, Redis "
             f"{m.get('redis', '')}. Everything shares these cores: Gunicorn, PostgreSQL, Redis and the load "
             "generator, so the generator's CPU share is given beside every figure.")
    L.append("")
    others = [other_cores(s) for s in results["steps"]]
    busy = statistics.median(others)
    L.append(f"Other work on the machine while the steps ran (CPU not used by the processes measured): median "
             f"**{busy:.2f} of {_CORES[0]} cores**, at most {max(others):.2f}"
             + (". **The machine was busy with other work: these latencies and capacities are far below what a "
                "quiet machine gives; rerun `make capacity` on a quiet one.**" if busy > 0.25 * _CORES[0] else
                ": a quiet machine.") + " The CPU figures per request are not affected by it.")
    L.append("")
    L.append(f"Data: church `{results['fixture']['church']}` with {results['fixture']['members']:,} members inside "
             "the 1.1M-member bench database (`flock_bench`, `scripts/bench_queries.py --seed`).")
    L.append("")
    L += ["## Goals", "", "| goal | this run | met | note |", "| --- | --- | --- | --- |"]
    for goal, figure, met, note in goals(results, fig):
        L.append(f"| {goal} | {figure} | {'**met**' if met else '**not met**'} | {note} |")
    L.append("")
    L.append("Where the time goes for the goals not met, measured before anything was changed, and the fix "
             "made since: [capacity-notes.md](capacity-notes.md). Below: py-spy of the workers, SQL per view.")
    L.append("")

    if "before" in fig:
        b = fig["before"]
        L += ["## Before vs after (the seed's table, measured)", "",
              f"Capacity = the highest offered rate whose median of {after['cap_runs']} runs kept p95 ≤ "
              f"{results['p95_limit_ms']:.0f} ms with 0 failures. Latency, SQL and CPU figures are the medians of "
              f"the runs at 80 % of the after-capacity ({after['rate80']:.0f} req/s)"
              + ("" if b["of_after"] else f"; **before cannot carry that rate**, so its figures are at 80 % of its "
                 f"own capacity ({b['rate80']:.1f} req/s)") + ".", "",
              "| | before | after | change | the seed expected |", "| --- | ---: | ---: | ---: | --- |"]

        def pct(bv: float, av: float) -> str:
            return f"{av / bv - 1:+.0%}" if bv else ""

        def lat(f: dict, at: str) -> str:
            return " / ".join(_ms(f[f"{q}_{at}" if at == "80" else f"cap_{q}"]) for q in ("p50", "p95", "p99"))

        rows = [
            ("capacity (req/s)", cap_text(b), cap_text(after),
             f"**{'> ' if not b['capacity'] else ''}{after['capacity'] / (b['capacity'] or b['below']):.1f}×**",
             "250 → 900–1,000 req/s (3.6–4×)"),
            ("CPU of the processes measured at capacity (share of all cores)", f"{b['cap_busy']:.0%}",
             f"{after['cap_busy']:.0%}", "", "CPU 25 % → 80–90 %"),
            ("p50 / p95 / p99 at capacity (ms)", lat(b, "cap"), lat(after, "cap"), "", ""),
            ("p50 / p95 / p99 at the 80 % rate (ms)", lat(b, "80"), lat(after, "80"),
             pct(b["p50_80"], after["p50_80"]) + " (p50)", "query latency 100–200 → 5–50 ms"),
            ("SQL statements per request", f"{b['sql']:.2f}", f"{after['sql']:.2f}", pct(b["sql"], after["sql"]),
             "database load −70 %"),
            ("PostgreSQL CPU seconds per 1,000 requests", f"{b['pg_cpu_per_1000']:.2f}",
             f"{after['pg_cpu_per_1000']:.2f}", pct(b["pg_cpu_per_1000"], after["pg_cpu_per_1000"]), "database load −70 %"),
            ("Gunicorn CPU seconds per 1,000 requests", f"{b['app_cpu_ms']:.2f}", f"{after['app_cpu_ms']:.2f}",
             pct(b["app_cpu_ms"], after["app_cpu_ms"]), ""),
        ]
        for g, label in (("gunicorn", "Gunicorn"), ("postgres", "PostgreSQL (this database's backends)"),
                         ("redis", "Redis (private to the run)"), ("generator", "load generator"),
                         ("machine", "whole machine")):
            rows.append((f"CPU at the 80 % rate, {label} (cores busy)", f"{b['cpu'][g]:.2f}", f"{after['cpu'][g]:.2f}",
                         "", ""))
        rows += [
            ("RSS per worker (MB)", f"{b['rss_mb']:.0f} × {b['workers']}", f"{after['rss_mb']:.0f} × {after['workers']}",
             "", "memory per request lower"),
            ("failed requests across a HUP (`make deploy`) under load", f"{b['hup']['failures']} of {b['hup']['requests']:,}",
             f"{after['hup']['failures']} of {after['hup']['requests']:,}", "", "downtime risk eliminated"),
            ("HUP: rate, new workers forked after, p99 / max (ms)",
             f"{b['hup']['rate']:.1f} req/s, {b['hup']['reload_s']:.1f} s, {_ms(b['hup']['p99'])} / {_ms(b['hup']['max'])}",
             f"{after['hup']['rate']:.0f} req/s, {after['hup']['reload_s']:.1f} s, {_ms(after['hup']['p99'])} / "
             f"{_ms(after['hup']['max'])}", "", ""),
            ("load generator's CPU share (at capacity / at the 80 % rate)", f"{b['cap_gen']:.0%} / {b['gen80']:.0%}",
             f"{after['cap_gen']:.0%} / {after['gen80']:.0%}", "", ""),
        ]
        L += [f"| {' | '.join(r)} |" for r in rows]
        L.append("")
        L += ["### Per page type at the 80 % rate (p50 / p95 ms, medians of the runs)", "",
              f"| page | before ({b['rate80']:.1f} req/s) | after ({after['rate80']:.0f} req/s) |",
              "| --- | ---: | ---: |"]
        for page in sorted(set(b["pages80"]) | set(after["pages80"])):
            cells = []
            for f in (b, after):
                v = f["pages80"].get(page)
                cells.append(f"{_ms(v[0])} / {_ms(v[1])}" if v else "–")
            L.append(f"| `{page}` | {cells[0]} | {cells[1]} |")
        L.append("")

    L += ["## What each piece is worth (from \"after\", one piece off at a time)", "",
          "| configuration | capacity (req/s) | ÷ after | p95 at capacity (ms) | p95 at "
          f"{after['rate80']:.0f} req/s (ms) | SQL / request | PostgreSQL CPU s / 1,000 req | Gunicorn CPU s / 1,000 req | generator CPU share |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, f in fig.items():
        at80 = _ms(f["p95_80"]) if f["of_after"] else f"({_ms(f['p95_80'])} at {f['rate80']:.1f})"
        L.append(f"| {name}: {results['configs'][name]['what']} | {cap_text(f)} | "
                 f"{f['capacity'] / after['capacity']:.2f} | {_ms(f['cap_p95'])} | {at80} | {f['sql']:.2f} | "
                 f"{f['pg_cpu_per_1000']:.2f} | {f['app_cpu_ms']:.2f} | {f['cap_gen']:.0%} |")
    L.append("")
    L.append("A figure in brackets was measured at 80 % of that configuration's own capacity (at the lowest rate "
             "tried where its capacity is below that): it cannot carry 80 % of the after-capacity. CPU per request "
             "includes each worker's fixed background work (the counters' flush, Gunicorn's heartbeat), so it reads "
             "higher at low rates.")
    L.append("")
    L += ["## Curves", "", "![p50/p95/p99 against the offered rate, per configuration](capacity.png)", ""]
    L += _sql_by_view(results)
    L += _profile(results)
    L += _method(results, fig)
    L += _steps_table(results)
    return "\n".join(L) + "\n"


def _sql_by_view(results: dict) -> list[str]:
    """SQL statements per request of each view, after vs cache off, and after's cache outcomes."""
    names = [n for n in ("after", "cache off") if n in results["configs"]]
    steps = {n: median_step(results["configs"][n]["at80"]["runs"]) for n in names}
    views = sorted({v for st in steps.values() for v in st.get("requests_by_view", {})})
    L = ["## Where the SQL goes (the 80 % steps, per view)", "",
         "| view | " + " | ".join(f"{n}: requests, SQL / request" for n in names) + " |",
         "| --- |" + " ---: |" * len(names)]
    for view in views:
        cells = []
        for n in names:
            req = steps[n].get("requests_by_view", {}).get(view, 0)
            sql = steps[n].get("sql_by_view", {}).get(view, 0)
            cells.append(f"{req:.0f}, {sql / req:.2f}" if req else "–")
        L.append(f"| `{view}` | " + " | ".join(cells) + " |")
    cache = steps["after"].get("cache", {})
    spaces = sorted(set(cache.get("hits", {})) | set(cache.get("misses", {})))
    if spaces:
        L += ["", "After's cache-aside outcomes in that step (`flock_cache_aside_total`):", "",
              "| namespace | hits | misses | errors | hit ratio |", "| --- | ---: | ---: | ---: | ---: |"]
        for ns in spaces:
            h, m, e = (cache.get(k, {}).get(ns, 0) for k in ("hits", "misses", "errors"))
            L.append(f"| `{ns}` | {h:.0f} | {m:.0f} | {e:.0f} | {h / (h + m):.0%} |" if h + m else
                     f"| `{ns}` | {h:.0f} | {m:.0f} | {e:.0f} | – |")
    return L + [""]


def _profile(results: dict) -> list[str]:
    step = results["configs"]["after"].get("profile")
    if step is None:
        raise Missing("the py-spy profile of after")
    prof = step["profile"]
    a = step["all"]
    args = prof.get("args", "--rate 100 --nonblocking")
    what = ("only threads holding the GIL, so this is where the workers' Python CPU time goes"
            if "--gil" in args else "every thread py-spy did not see as idle, waits on Redis and PostgreSQL "
            "replies included, so this is where a request's wall time goes")
    L = ["## Where the time goes (py-spy, after, at the 80 % rate)", "",
         f"{prof['samples']:,} stack samples of the {results['configs']['after']['workers']} workers "
         f"(`py-spy record {args}`: {what}) during a step of its own at "
         f"{step['offered_rps']:.0f} req/s (p50 {_ms(a['p50'])}, p95 {_ms(a['p95'])}, p99 {_ms(a['p99'])} ms while "
         "sampled). Each sample goes to the innermost layer on its stack (self time by layer) and to the view it "
         "ran under.", ""]
    if not prof["samples"]:
        return L + ["No samples in this (tiny) run.", ""]
    L += ["| layer (innermost frame) | share of the samples |", "| --- | ---: |"]
    L += [f"| {name} | {share:.1%} |" for name, share in prof["layers"]]
    L += ["", "| view | share of the samples |", "| --- | ---: |"]
    L += [f"| `{name}` | {share:.1%} |" for name, share in prof["views"]]
    L += ["", "| hottest leaf frames | share |", "| --- | ---: |"]
    L += [f"| `{name}` | {share:.1%} |" for name, share in prof["leaves"]]
    return L + [""]


def _method(results: dict, fig: dict) -> list[str]:
    weights = results["weights"]
    total = sum(weights.values())
    skipped = results.get("skipped_tasks") or []
    gen = [s for s in results["steps"] if s.get("requests") and s.get("offered_rps") is not None]
    gen_ms = statistics.median(s["cpu_s"]["generator"] * 1000 / s["requests"] for s in gen) if gen else float("nan")
    peak = max((s["offered_rps"] for s in gen), default=0)
    hz = results["configs"]["after"]["healthz"]
    L = ["## How it was measured", ""]
    L.append("- **Load**: the staff mix of `loadtest/locustfile.py` (`StaffMix`), tasks and weights: "
             + ", ".join(f"`{k}` {v} ({v / total:.0%})" for k, v in weights.items())
             + f" ({results['requests_per_task']:.2f} requests per task: the edit opens the form, then saves it"
             " and follows the redirect). "
             + (f"Left out because the page answered 404 on this branch: {', '.join(skipped)}. " if skipped else "")
             + f"Members, groups, attendance sessions and search terms are sampled across the whole church "
             f"({results['targets']['member_ids']} members, {results['targets']['group_ids']} groups, "
             f"{results['targets']['sessions']} sessions, {results['targets']['terms']} terms).")
    L.append(f"- **Generator**: Locust (`FastHttpUser`) as a library in its own process "
             "(`scripts/bench/openloop.py`), open-loop: every user starts a task every "
             f"{results['user_interval_s']:.0f} s (a constant-throughput wait, 8× the p95 bound), with rate × "
             f"{results['user_interval_s']:.0f} s users, so arrivals do not wait on responses while the server keeps up; "
             "a start that a slow response delayed is counted late, and a step with more than 1 % late arrivals "
             "fails (one under 80 % of the offered rate achieved too: a generator that did not offer the load). Locust rather than wrk because the mix needs the "
             "logged-in form posts (CSRF token, redirect) and the pages' links; wrk measures the /healthz and "
             f"dashboard rates ({hz['wrk']}, {hz['connections']} connections, closed loop, median of "
             f"{len(hz['runs'])} × {hz['duration_s']} s). The generator's own ceiling: it spent a median "
             f"{gen_ms:.2f} ms of CPU per request, so its one process tops out near {1000 / gen_ms:.0f} req/s on "
             f"one core; the highest rate offered here was {peak:.0f} req/s. A few sessions are logged in through "
             "the login form before the steps and shared by the users (a deliberately slow PBKDF2 login per user "
             "would be part of no steady state).")
    plan = results["plan"]
    L.append(f"- **Steps**: per configuration a closed-loop probe ({plan['probe_s']} s) gives the throughput "
             "ceiling; coarse steps from 60 % of it (×1.25 up while passing, ÷1.6 down while failing), up to "
             f"{plan['fine_steps']} bisection steps around the knee (to within {plan['resolution'] - 1:.0%}), then "
             f"the highest passing rate is run until it has {plan['repeats']} runs: capacity stands on their median "
             "(p95, and most runs passing), otherwise it steps down. Each step: a warm-up of "
             f"{plan['warmup_s']} s (users spread over one interval, then steady), then the measured window: at least "
             f"{plan['min_duration_s']} s, longer at low rates so that a step has {plan['min_requests']} requests, at "
             f"most {plan['max_duration_s']} s.")
    L.append("- **Configurations**: \"after\" is the production default: "
             f"{fig['after']['workers']} gthread workers (one per core) × 4 threads, `CACHE_ASIDE=on`, "
             "`SESSION_STORE=cache` (Redis in front of the database), every index. \"before\" is as close to the "
             "pre-Phase-1 system as the code allows: one sync worker, `CACHE_ASIDE=off`, `SESSION_STORE=database`, "
             f"and the database `{results['before_db']['database']}`, a copy of the bench database with the "
             "critical indices dropped in SQL (" + ", ".join(f"`{d}`" for d in results["before_db"]["dropped"])
             + ") and the foreign-key indices they replaced restored ("
             + ", ".join(f"`{r}`" for r in results["before_db"]["restored"]) + "). **The per-church counters "
             "cannot be turned off**: today's code reads them on every dashboard, list and roster (they replaced "
             "aggregates over every row; `members/tallies.py`), so the \"before\" has them; the issue's \"before\" "
             "is therefore faster than the pre-Phase-1 system was. Workers are not recycled during the run "
             "(`GUNICORN_MAX_REQUESTS=0`); the access log stays on, as in production.")
    L.append("- **Figures**: latency from the client, exact (every response of the window); SQL statements from "
             "`flock_db_queries_total` on `/metrics` divided by the server's own request count; CPU from "
             "`/proc/<pid>/stat` of the Gunicorn master and workers, of the PostgreSQL backends connected to the "
             "database under test, of a Redis server private to the run, of the generator, and `/proc/stat` for the "
             "whole machine (what those do not explain is other work on the machine); RSS from "
             "`/proc/<pid>/status` of each worker at the end of the step. The HUP row: a step at half the "
             "configuration's capacity with `kill -HUP` of the master a third of the way in; failed requests are "
             "those the client saw fail.")
    L.append("")
    return L


def _steps_table(results: dict) -> list[str]:
    L = ["## Every step", "",
         "| configuration | kind | offered | achieved | p50 | p95 | p99 | failed | late | SQL/req | gen CPU | other work | pass |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for s in results["steps"]:
        a = s.get("all") or {}
        n = s.get("server_requests") or 1
        offered = f"{s['offered_rps']:.1f}" if s.get("offered_rps") is not None else f"closed, {s['users']} users"
        L.append(f"| {s['config']} | {s.get('kind')} | {offered} | {s['achieved_rps']:.1f} | "
                 f"{_ms(a.get('p50', 0))} | {_ms(a.get('p95', 0))} | {_ms(a.get('p99', 0))} | {s['failures']} | "
                 f"{s['late']} | {s['sql'] / n:.2f} | {s['cpu_s']['generator'] / s['wall_s'] / _CORES[0]:.0%} | "
                 f"{other_cores(s) / _CORES[0]:.0%} | {'yes' if s['passed'] else 'no'} |")
    L.append("")
    L.append("Latencies in ms; rates in req/s; CPU as a share of all cores during the measured window (\"other "
             "work\": what the machine ran besides the processes measured).")
    return L


COLOURS = {"p50": "#3b5bdb", "p95": "#f08c00", "p99": "#c2255c"}


def chart_html(results: dict) -> str:
    panels = []
    for name, cfg in results["configs"].items():
        by_rate: dict[float, list[dict]] = {}
        for s in results["steps"]:
            if s["config"] == name and s.get("offered_rps") is not None and s.get("all") and s.get("kind") in (
                    "search", "at80"):
                by_rate.setdefault(s["offered_rps"], []).append(s["all"])
        # One point per rate: the medians of its runs (the repeats at the knee included).
        pts = [(rate, {q: statistics.median(a[q] for a in runs) for q in ("p50", "p95", "p99")})
               for rate, runs in sorted(by_rate.items())]
        series = [(q, COLOURS[q], [(x, a[q]) for x, a in pts]) for q in ("p50", "p95", "p99")]
        panels.append(chart.line_panel(
            f"{name}: {cfg['capacity_rps'] or '< ' + str(cfg.get('below_rps'))} req/s", cfg["what"], series,
            x_label="offered rate (req/s)", y_label="latency (ms, log)",
            hline=(results["p95_limit_ms"], "p95 bound"), vline=(cfg["capacity_rps"], "capacity")))
    return chart.page("Staff-mix latency against the offered rate",
                      f"{results['started']}, {results['machine'].get('cores')} cores; every step of each "
                      f"configuration (medians of the runs at each rate); capacity: p95 ≤ {results['p95_limit_ms']:.0f} ms, "
                      "0 failures", panels)


def write_chart(results: dict, png, html_copy) -> str | None:
    """The PNG of the curves; None, or why it could not be made."""
    return chart.screenshot(chart_html(results), png, html_copy=html_copy)


def summary(results: dict) -> str:
    fig = figures(results)
    lines = ["", "capacity (req/s): " + ", ".join(f"{k} {v['capacity']:.1f}" for k, v in fig.items())]
    for goal, figure, met, _ in goals(results, fig):
        lines.append(f"  {'met    ' if met else 'NOT MET'} {goal}: {figure}")
    return "\n".join(lines)
