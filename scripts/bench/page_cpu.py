"""CPU and wall time per page type of the staff mix, in process (Django's test client), warm cache.

    .venv/bin/python scripts/bench/page_cpu.py                     # the bench church of flock_bench
    .venv/bin/python scripts/bench/page_cpu.py --cache off --n 60
    .venv/bin/python scripts/bench/page_cpu.py --profile member_list   # + cProfile of one page type

The CPU time (time.process_time) of this process is what a Gunicorn worker spends on the page
itself, without HTTP parsing, sockets or the access log; it hardly depends on what else the
machine runs, so it says where the time of `make capacity`'s workers goes even on a busy box.
Uses the bench database (BENCH_DATABASE_URL, default flock_bench) and a Redis database of its own
(BENCH_REDIS_URL, default db 11 of the machine's Redis, keys under its own prefix).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_bench")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("BENCH_PASSWORD", "flock-demo-password")
os.environ.setdefault("BENCH_CACHE_KEY_PREFIX", "flockpagecpu")
os.environ.setdefault("BENCH_VAR_DIR", str(HERE.parents[1] / "var" / "capacity"))
sys.path.insert(0, str(HERE))

import common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--n", type=int, default=40, help="requests per page type")
    parser.add_argument("--profile", help="a page type to cProfile afterwards")
    args = parser.parse_args()
    common.manage("collectstatic", "--noinput", "-v", "0")
    common.setup_django(CACHE_ASIDE=args.cache, DJANGO_ALLOWED_HOSTS="127.0.0.1")
    from django.test import Client

    from members.models import Group, Member

    fx = common.find_fixture()
    if fx is None:
        common.die("no bench church: run make capacity (or scripts/bench_queries.py --seed) first")
    common.clear_cache()
    client = Client(HTTP_HOST="127.0.0.1")
    if not client.login(username=fx.username, password=fx.password):
        common.die("in-process login failed")
    ids = list(Member.objects.filter(church_id=fx.church_id).order_by("id").values_list("id", flat=True)[::500][:20])
    groups = list(Group.objects.filter(church_id=fx.church_id, archived=False).values_list("id", flat=True)[:20])
    sessions = [s.replace("&amp;", "&") for s in
                re.findall(r'href="(/attendance/record/\?[^"]+)"', client.get("/attendance/").content.decode())]
    rng = random.Random(1)
    pages = {
        "healthz": lambda: "/healthz",
        "dashboard": lambda: "/dashboard/",
        "member_list": lambda: "/members/",
        "member_list ?page=N": lambda: f"/members/?page={rng.randint(2, 200)}",
        "member_search": lambda: f"/members/?q={rng.choice(['smit', 'john', 'garc', 'lee', 'davi'])}",
        "member_detail": lambda: f"/members/{rng.choice(ids)}/",
        "group_list": lambda: "/groups/",
        "group_roster": lambda: f"/groups/{rng.choice(groups)}/",
        "attendance_list": lambda: "/attendance/",
        "attendance_checklist": lambda: rng.choice(sessions),
    }
    print(f"{fx.slug} ({fx.members:,} members), CACHE_ASIDE={args.cache}, {args.n} requests per page type, warm")
    print(f"{'page':24} {'CPU ms':>8} {'wall ms':>8}")
    for name, url in pages.items():
        for _ in range(5):  # warm: templates compiled, cache filled
            client.get(url())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(args.n):
            response = client.get(url())
            if response.status_code != 200:
                common.die(f"{name}: {response.status_code}")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(f"{name:24} {cpu * 1000 / args.n:8.2f} {wall * 1000 / args.n:8.2f}", flush=True)
    if args.profile:
        url = pages[args.profile]
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.n):
            client.get(url())
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
    common.clear_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
