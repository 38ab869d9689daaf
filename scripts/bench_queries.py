#!/usr/bin/env python
"""Time every hot query before and after the critical indices, on a big PostgreSQL database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flock_bench .venv/bin/python scripts/bench_queries.py --seed

With `--seed` an empty (or small) database is first seeded with one 100,000-member church and then
1,000,000 members over 200 churches (`manage.py seed_demo`; the seed timings are recorded). Then:

1. migrate to the latest state, pick the biggest church (or `--church`);
2. migrate `members` and `attendance` back to their first migration (no critical indices, no
   attendance index, no counter tables), VACUUM ANALYZE, time each hot query of
   members/hot_queries.py as the pages ran it then (`HotQuery.before`: an aggregate over the rows
   where a counter now serves the figure; median of `--runs` runs through the ORM, plus one
   EXPLAIN ANALYZE for the database's own figure and the index it used);
3. migrate forward again (indices built CONCURRENTLY, counters backfilled), VACUUM ANALYZE, time the
   queries as the pages run them now; also OFFSET pagination at pages 1/100/1,000 against keyset
   pagination and a bounded count, the figures behind the deep-page recommendation;
4. write docs/bench/queries.md (markdown) and docs/bench/queries.json (`--report NAME`: NAME.md/.json).

The indices are always restored at the end, even when a step fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
os.environ.setdefault("CACHE_ASIDE", "off")  # the queries themselves, never a cache in front

import django  # noqa: E402


def ensure_database() -> None:
    """Create the benchmark database named in DATABASE_URL when it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    cfg = dj_database_url.parse(url)
    with psycopg.connect(host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"],
                         password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
            print(f"[bench_queries] created database {cfg['NAME']}", file=sys.stderr)


if "--seed" in sys.argv:
    ensure_database()
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from members import hot_queries  # noqa: E402
from members.models import Church, Member  # noqa: E402

TABLES = ("members_member", "members_membership", "members_group", "attendance_attendance")


def log(message: str) -> None:
    print(f"[bench_queries {datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def migrate(app: str | None = None, target: str | None = None) -> None:
    args = [a for a in (app, target) if a]
    call_command("migrate", *args, verbosity=0, interactive=False)


def analyze() -> None:
    """VACUUM (ANALYZE): statistics for the planner and the visibility map for index-only scans,
    the steady state autovacuum keeps a live database in, for both the before and the after."""
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def seed(args) -> dict:
    """Seed the benchmark data set when the database is small; return the seed timings."""
    timings: dict[str, float] = {}
    migrate()
    if Member.objects.count() >= 1_000_000:
        log("database already holds a million members: not seeding")
        return timings
    for label, churches, members in (("100k_church", 1, 100_000), ("1m_200_churches", 200, 1_000_000)):
        log(f"seeding {members:,} members over {churches} church(es)")
        started = time.perf_counter()
        # A separate process, as an operator would run it (and its memory is given back after).
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "seed_demo", "--churches", str(churches),
             "--members", str(members), "--seed", str(args.seed_value + churches)],
            check=True, stdout=subprocess.DEVNULL,
        )
        timings[label] = round(time.perf_counter() - started, 1)
        log(f"seeded in {timings[label]}s")
    return timings


def measure(ctx: hot_queries.HotContext, runs: int, *, before: bool = False) -> dict[str, dict]:
    results = {}
    for query in hot_queries.applicable(ctx):
        ms = hot_queries.time_query(query, ctx, runs=runs, before=before)
        used: list[str] = []
        scans: list[str] = []
        db_ms = 0.0
        for sql, params in hot_queries.capture_sql(query, ctx, before=before):
            plan = hot_queries.explain(sql, params, analyze=True)
            used += plan.indexes
            scans += plan.seq_scans
            db_ms += plan.db_ms or 0.0
        results[query.name] = {
            "title": query.title, "counters": query.before is not None and not before, "ms": round(ms, 2), "db_ms": round(db_ms, 2),
            "indexes": list(dict.fromkeys(used)), "seq_scans": sorted(set(scans)),
        }
        log(f"  {query.name:24} {ms:9.2f} ms  {', '.join(dict.fromkeys(used)) or 'no index'}")
    return results


def pagination(ctx: hot_queries.HotContext, runs: int) -> dict:
    """OFFSET pages 1 / 100 / 1,000 vs keyset (seek) pagination, and exact vs bounded counts."""
    church = ctx.church
    total = Member.objects.for_church(church).count()
    pages = [p for p in (1, 100, 1000) if (p - 1) * hot_queries.PER_PAGE < total]
    members = Member.objects.for_church(church).order_by(*hot_queries.DIRECTORY_ORDER)
    fields = ("id", "first_name", "last_name", "email", "phone", "status", "joined_on")

    def timed(fn) -> float:
        fn()
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(samples), 2)

    out: dict = {"total": total, "offset": {}, "keyset": {}}
    for page in pages:
        offset = (page - 1) * hot_queries.PER_PAGE
        out["offset"][page] = timed(lambda o=offset: list(members.values(*fields)[o:o + hot_queries.PER_PAGE]))
        if page > 1:
            # The row before the page: what a "next" link would carry in keyset pagination.
            last = members.values("last_name", "first_name", "id")[offset - 1]
            # A row-value comparison, which PostgreSQL turns into an index condition on
            # member_church_name_idx (an OR of column comparisons would only be a filter).
            seek = members.extra(
                where=['("members_member"."last_name", "members_member"."first_name", "members_member"."id") '
                       '> (%s, %s, %s)'],
                params=[last["last_name"], last["first_name"], last["id"]],
            )
            out["keyset"][page] = timed(lambda s=seek: list(s.values(*fields)[:hot_queries.PER_PAGE]))
    out["count_exact_ms"] = timed(lambda: Member.objects.for_church(church).count())
    bound = 10_000
    out["count_bounded_ms"] = timed(
        lambda: Member.objects.for_church(church).order_by().values("id")[:bound + 1].count())
    out["count_bound"] = bound
    return out


def write_report(data: dict, *, report: str = "queries") -> None:
    before, after = data["before"], data["after"]
    lines = [
        "## Hot queries before and after the critical indices and the counters",
        "",
        f"Measured {data['measured_at']} by `scripts/bench_queries.py` on PostgreSQL {data['postgres']}, "
        f"{data['members_total']:,} members in {data['churches']} churches; church `{data['church']}` "
        f"({data['church_members']:,} members, search `{data['search']}`, phone search "
        f"`{data.get('phone_search', '-')}`, deep page {data['deep_page']}). "
        f"Median of {data['runs']} runs through the ORM (ms: the page's own call, Python and the round trip "
        f"included); database ms is PostgreSQL's execution time of the same SQL (EXPLAIN ANALYZE, one run); the "
        f"index column is what EXPLAIN ANALYZE showed after. Rows marked * read the per-church counters (members/tallies.py) after, and aggregated the "
        f"member, membership or attendance rows before. Machine: {data['machine']}.",
        "",
        "| query | before ms | after ms | speed-up | database ms before → after | index after |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in after.items():
        b = before.get(name, {}).get("ms")
        a = row["ms"]
        speed = f"{b / a:.1f}x" if b and a else "-"
        index = ", ".join(row["indexes"]) or "-"
        if row["seq_scans"]:
            index += f" (seq scan: {', '.join(row['seq_scans'])})"
        mark = " *" if row.get("counters") else ""
        db = f"{before.get(name, {}).get('db_ms', '-')} → {row.get('db_ms', '-')}"
        lines.append(f"| {name}{mark} | {b if b is not None else '-'} | {a} | {speed} | {db} | {index} |")
    p = data["pagination"]
    lines += [
        "",
        f"Deep pages (after, {p['total']:,} members): OFFSET pagination vs keyset (seek) pagination, ms.",
        "",
        "| page | OFFSET | keyset |",
        "| ---: | ---: | ---: |",
    ]
    for page, ms in p["offset"].items():
        lines.append(f"| {page} | {ms} | {p['keyset'].get(page, '-')} |")
    lines += [
        "",
        f"Exact count of the church's members: {p['count_exact_ms']} ms; "
        f"bounded count (stop at {p['count_bound'] + 1:,}): {p['count_bounded_ms']} ms.",
    ]
    if data.get("seed"):
        lines += ["", "Seed timings (`manage.py seed_demo`, wall clock): "
                  + ", ".join(f"{k}: {v}s" for k, v in data["seed"].items()) + "."]
    out_dir = ROOT / "docs" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{report}.md").write_text("\n".join(lines) + "\n")
    (out_dir / f"{report}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    log(f"wrote {out_dir / (report + '.md')} and {out_dir / (report + '.json')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", action="store_true", help="seed 100k + 1M members first when the DB is small")
    parser.add_argument("--seed-only", action="store_true",
                        help="with --seed: seed (when needed) and stop, no measurement (`make capacity` reuses it)")
    parser.add_argument("--seed-value", type=int, default=100, help="random seed for seed_demo")
    parser.add_argument("--church", help="church slug (default: the church with the most members)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query (median reported)")
    parser.add_argument("--report", default="queries",
                        help="report name: docs/bench/<name>.md and .json (default: queries)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("bench_queries needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2

    seed_timings = seed(args) if args.seed else {}
    if args.seed_only:
        print(json.dumps({"seed": seed_timings}))
        return 0
    migrate()
    church = (Church.objects.get(slug=args.church) if args.church
              else Church.objects.annotate(n=Count("members")).order_by("-n", "id").first())
    if church is None:
        print("No church: run with --seed (or manage.py seed_demo) first.", file=sys.stderr)
        return 2
    ctx = hot_queries.HotContext.for_church(church)
    log(f"church {church.slug}: search {ctx.search!r}, phone search {ctx.phone_search!r}, deep page {ctx.deep_page}")

    # Back to where both apps started: no critical indices, no attendance index, no counters.
    attendance_target = members_target = "0001_initial"
    started = time.perf_counter()
    try:
        log(f"migrating back: members -> {members_target}, attendance -> {attendance_target}")
        migrate("attendance", attendance_target)
        migrate("members", members_target)
        analyze()
        log("before the indices:")
        before = measure(ctx, args.runs, before=True)
    finally:
        log("migrating forward (indices built CONCURRENTLY)")
        migrate()
    analyze()
    log(f"after the indices (migrations took {time.perf_counter() - started:.0f}s in all so far):")
    after = measure(ctx, args.runs)
    log("pagination: OFFSET vs keyset, exact vs bounded count")
    paging = pagination(ctx, args.runs)

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    data = {
        "measured_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "postgres": version,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "members_total": Member.objects.count(),
        "churches": Church.objects.count(),
        "church": church.slug,
        "church_members": Member.objects.for_church(church).count(),
        "search": ctx.search,
        "phone_search": ctx.phone_search,
        "deep_page": ctx.deep_page,
        "runs": args.runs,
        "before": before,
        "after": after,
        "pagination": paging,
        "seed": seed_timings,
    }
    write_report(data, report=args.report)
    print((ROOT / "docs" / "bench" / f"{args.report}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
