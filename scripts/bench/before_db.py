"""The "before" database of `make capacity`: a copy of the bench database without the critical indices.

The copy is `CREATE DATABASE <name>_before TEMPLATE <name>` (a file copy: seconds, not a
re-seed), then the reverse of the index migrations' operations, in SQL:

- members 0002: drop member_church_name_idx, member_church_joined_idx and
  member_church_status_idx; recreate the single-column foreign-key indices it dropped
  (members_member.church_id, members_group.church_id, members_membership.group_id);
- members 0004 and 0005: drop the church-led trigram indices of the search
  (member_church_search_trgm, member_church_phone_trgm); the per-column ones 0002 added and
  0004 replaced are gone too (the system before Phase 1 had no trigram index);
- attendance 0002: drop attendance_church_date_group; recreate attendance_attendance.church_id.

Not `migrate members 0001`: that would also drop the per-church counters' tables (members 0003,
attendance 0003/0004), which today's code reads on every dashboard, list and roster. The counters
cannot be turned off, so "before" keeps them (and their own small indices).

The copy is reused while its applied migrations equal the original's (the index drops are
re-applied, idempotently, every time); otherwise it is made again.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse, urlunparse

import psycopg

DROP = (
    "member_church_name_idx", "member_church_joined_idx", "member_church_status_idx",
    "member_church_search_trgm", "member_church_phone_trgm",
    "member_first_name_trgm", "member_last_name_trgm", "member_email_trgm",
    "attendance_church_date_group",
)
RESTORE = (
    ("members_member_church_id_before", "members_member", "church_id"),
    ("members_group_church_id_before", "members_group", "church_id"),
    ("members_membership_group_id_before", "members_membership", "group_id"),
    ("attendance_attendance_church_id_before", "attendance_attendance", "church_id"),
)


def url_for(database_url: str, name: str) -> str:
    parts = urlparse(database_url)
    return urlunparse(parts._replace(path=f"/{name}"))


def _connect(database_url: str, dbname: str | None = None):
    db = urlparse(database_url)
    return psycopg.connect(host=db.hostname, port=db.port or 5432, user=db.username, password=db.password,
                           dbname=dbname or db.path.lstrip("/"), autocommit=True, connect_timeout=5)


def _migrations(database_url: str, dbname: str) -> list[tuple[str, str]]:
    with _connect(database_url, dbname) as conn:
        return [tuple(r) for r in conn.execute("SELECT app, name FROM django_migrations ORDER BY app, name")]


def prepare(database_url: str, log) -> tuple[str, dict]:
    """Make (or reuse) the copy without the critical indices; return its URL and what was done."""
    source = urlparse(database_url).path.lstrip("/")
    name = f"{source}_before"
    info: dict = {"database": name}
    t0 = time.monotonic()
    with _connect(database_url, "postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and _migrations(database_url, name) != _migrations(database_url, source):
            log(f"{name} is from an older schema: making it again")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            # No session may be connected to the template while it is copied.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (source,))
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}" STRATEGY FILE_COPY')
            info["copied"] = True
        else:
            info["copied"] = False
    info["copy_s"] = round(time.monotonic() - t0, 1)
    t1 = time.monotonic()
    with _connect(database_url, name) as conn:
        for index in DROP:
            conn.execute(f'DROP INDEX IF EXISTS "{index}"')
        for index, table, column in RESTORE:
            conn.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")')
        conn.execute("ANALYZE members_member")
        conn.execute("ANALYZE attendance_attendance")
        left = [r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", (list(DROP),))]
        if left:
            raise RuntimeError(f"indices still present on {name}: {left}")
    info["indices_s"] = round(time.monotonic() - t1, 1)
    info["dropped"] = list(DROP)
    info["restored"] = [f"{t}({c})" for _, t, c in RESTORE]
    log(f"{name}: {'copied' if info['copied'] else 'reused'} in {info['copy_s']} s, indices dropped "
        f"in {info['indices_s']} s")
    return url_for(database_url, name), info


def drop(database_url: str) -> None:
    name = f"{urlparse(database_url).path.lstrip('/')}_before"
    with _connect(database_url, "postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
