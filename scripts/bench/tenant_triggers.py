"""What the one-church triggers (members/0006, attendance/0005) cost a bulk writer.

Every membership and attendance row written passes the triggers (two primary-key lookups
each). This seeds a scratch PostgreSQL database (`TRIGGERS_DATABASE_URL`, default
flock_triggers on the local server; made and dropped here) with seed_demo (which, as a
superuser, loads with `session_replication_role = replica`: no trigger at all, its rows are
consistent by construction), then times bulk INSERTs like the services' (a checklist save, an
import's memberships) with the triggers enabled and disabled (`DISABLE TRIGGER USER`: the
foreign keys' own checks stay), each rolled back, and writes docs/bench/tenant-triggers.md.

    .venv/bin/python scripts/bench/tenant_triggers.py [--members 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
URL = os.environ.get("TRIGGERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_triggers")
NAME = urlparse(URL).path.lstrip("/")
ADMIN_URL = URL.rsplit("/", 1)[0] + "/postgres"
WRITES = {
    "attendance (a service for every member, 4 dates)": (
        "attendance_attendance",
        "INSERT INTO attendance_attendance (church_id, member_id, group_id, date) "
        "SELECT church_id, id, NULL, d FROM members_member, "
        "(VALUES (DATE '2031-01-05'), (DATE '2031-01-12'), (DATE '2031-01-19'), (DATE '2031-01-26')) AS days(d)",
    ),
    "memberships (every member into a new group of their church)": (
        "members_membership",
        "INSERT INTO members_membership (group_id, member_id, role, joined_on) "
        "SELECT g.id, m.id, 'member', DATE '2031-01-01' FROM members_member m "
        "JOIN members_group g ON g.church_id = m.church_id AND g.name = 'Bench ' || m.church_id",
    ),
}


def manage(*args: str) -> None:
    env = {**os.environ, "DATABASE_URL": URL, "CACHE_ASIDE": "off"}
    env.pop("REDIS_URL", None)
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def timed(conn, table: str, sql: str, *, triggers: bool) -> tuple[float, int]:
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        if not triggers:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        started = time.perf_counter()
        cursor.execute(sql)
        return time.perf_counter() - started, cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {NAME}")
        admin.execute(f"CREATE DATABASE {NAME}")
    try:
        manage("migrate", "--noinput", "-v", "0")
        manage("seed_demo", "--churches", "4", "--members", str(args.members), "--seed", "7")
        lines = []
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute("INSERT INTO members_group (church_id, name, kind, description, archived, created_at, member_count) "
                         "SELECT id, 'Bench ' || id, 'other', '', false, now(), 0 FROM members_church")
            conn.execute("ANALYZE")
            for what, (table, sql) in WRITES.items():
                runs = {True: [], False: []}
                for _ in range(args.repeats):
                    for triggers in (False, True):
                        seconds, rows = timed(conn, table, sql, triggers=triggers)
                        runs[triggers].append(seconds)
                off, on = min(runs[False]), min(runs[True])
                lines.append(f"| {what} | {rows:,} | {off * 1000:.0f} | {on * 1000:.0f} | "
                             f"{(on - off) / off:+.0%} | {(on - off) / rows * 1e6:.1f} |")
                print(lines[-1], flush=True)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {NAME}")
    report = ROOT / "docs" / "bench" / "tenant-triggers.md"
    report.write_text(
        "# What the one-church triggers cost a bulk write\n\n"
        f"`.venv/bin/python scripts/bench/tenant_triggers.py --members {args.members} --repeats {args.repeats}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 2 cores shared with other work: best of "
        f"{args.repeats}, each rolled back). {args.members:,} members in 4 churches (seed_demo).\n\n"
        "| bulk INSERT | rows | triggers disabled (ms) | enabled (ms) | cost | µs per row |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(lines) + "\n\n"
        "The first version checked each row in a row-level trigger (a PL/pgSQL call and two lookups per "
        "row): 16.9 µs per attendance row (+259%) and 9.4 µs per membership (+127%) on the same data "
        "(2026-12-01 20:44 UTC). The statement-level triggers above check a statement's new rows in one join.\n\n"
        "seed_demo itself pays nothing: as a superuser it loads with `session_replication_role = replica`, "
        "which skips every trigger (its foreign keys' too; its rows are consistent by construction).\n"
    )
    print(report.read_text())


if __name__ == "__main__":
    main()
