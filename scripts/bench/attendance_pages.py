"""Attendance pages at scale: server time and SQL per page, and the plans of their queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/flock_bench_att \\
        .venv/bin/python manage.py seed_demo --churches 1 --members 100000 --seed 7
    DATABASE_URL=... .venv/bin/python scripts/bench/attendance_pages.py [--church SLUG] [--runs 30]

In-process (Django's test client, no HTTP, no Gunicorn): it measures what the views and
their queries cost, for the largest church in the database (or `--church`). The save
measurement ticks and unticks one person on a 100-person page, so the data is left as found.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "churchapp.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DJANGO_DEBUG", "off")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

# No collectstatic needed: a manifest lookup is a dict read either way.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from attendance.models import Attendance  # noqa: E402
from members.models import Church, Group, Member, User  # noqa: E402


def timed(client: Client, runs: int, method: str, url: str, data=None) -> tuple[float, float, int]:
    call = getattr(client, method)
    call(url, data or {})  # warm: the cached login, connections
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = call(url, data or {})
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 302), (url, response.status_code)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def explain(sql: str, params) -> str:
    if connection.vendor != "postgresql":
        return "(EXPLAIN ANALYZE shown on PostgreSQL only)"
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF) " + sql, params)
        # The page's 100 member ids say nothing: shorten the array.
        return "\n".join("    " + re.sub(r"'\{([\d,]{40})[\d,]*\}'", r"'{\1...}'", row[0]) for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--church", help="church slug (default: the one with the most members)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    churches = Church.objects.annotate(n=Count("members")).order_by("-n")
    church = churches.get(slug=args.church) if args.church else churches.first()
    if church is None:
        sys.exit("No church in the database: run `manage.py seed_demo` first.")
    staff = User.objects.filter(church=church, is_active=True).first()
    if staff is None:
        sys.exit(f"{church.slug} has no staff account.")
    rows = Attendance.objects.for_church(church)
    last = rows.filter(group=None).order_by("-date").values_list("date", flat=True).first() or timezone.localdate()
    group = (
        Group.objects.for_church(church).filter(archived=False).annotate(n=Count("memberships")).order_by("-n").first()
    )
    print(f"{church.slug}: {Member.objects.for_church(church).count():,} members, "
          f"{rows.count():,} attendance records; database {connection.vendor}; {args.runs} runs each")

    client = Client()
    client.force_login(staff)
    d = last.isoformat()
    pages = [
        ("sessions list, page 1", "get", "/attendance/", None),
        ("sessions list, page 40", "get", "/attendance/?page=40", None),
        ("service checklist, page 1", "get", f"/attendance/record/?date={d}&group=", None),
        ("service checklist, page 500", "get", f"/attendance/record/?date={d}&group=&page=500", None),
        ("service checklist, ?q=maria", "get", f"/attendance/record/?date={d}&group=&q=maria", None),
    ]
    if group is not None:
        pages.append((f"group checklist ({group.memberships.count()} on roster)", "get",
                      f"/attendance/record/?date={d}&group={group.id}", None))
    first_page = list(Member.objects.for_church(church).order_by("last_name", "first_name", "id")
                      .values_list("id", flat=True)[:100])
    present = set(rows.filter(date=last, group=None, member_id__in=first_page).values_list("member_id", flat=True))
    toggled = first_page[0]
    for label, flip in (("save 100-person page (+1 tick)", True), ("save 100-person page (back)", False)):
        ticks = (present ^ {toggled}) if flip else present
        data = {"date": d, "group": "", "shown": [str(i) for i in first_page], "present": [str(i) for i in ticks]}
        pages.append((label, "post", "/attendance/record/save/", data))

    print(f"{'page':42} {'median ms':>10} {'p95 ms':>8} {'SQL':>4}")
    for label, method, url, data in pages:
        median, p95, n = timed(client, args.runs if method == "get" else 1, method, url, data)
        print(f"{label:42} {median:10.1f} {p95:8.1f} {n:4}")

    print("\nPlans of the heavy queries:")
    from attendance.selectors import SESSIONS_PER_PAGE, attendance_session_rows

    sessions = attendance_session_rows(church=church)[:SESSIONS_PER_PAGE + 1]
    print("  recent sessions, page 1:")
    print(explain(*sessions.query.sql_with_params()))
    table = Attendance._meta.db_table
    print("  session headcount:")
    print(explain(f"SELECT COUNT(*) FROM {table} WHERE church_id = %s AND date = %s AND group_id IS NULL",
                  [church.id, last]))
    ticks = rows.filter(date=last, group=None, member_id__in=first_page).values("member_id")
    print("  ticks of one checklist page:")
    print(explain(*ticks.query.sql_with_params()))

if __name__ == "__main__":
    main()
