"""Gunicorn configurations side by side with wrk (the figures in docs/operations.md).

    .venv/bin/python scripts/bench_gunicorn.py [--rounds 2] [--duration 8s]

Needs wrk, and a database seeded with `seed_demo` whose staff account logs in with
BENCH_PASSWORD (see docs/operations.md). Each configuration gets a fresh Gunicorn (2 workers,
gunicorn.conf.py as shipped, DEBUG off) on a free 127.0.0.1 port; wrk then loads `/healthz`
(no database) and `/members/` (session, cache and database) with a logged-in staff cookie.
Rounds are interleaved so that a change in machine load hits every configuration alike.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ops import procs  # noqa: E402  (the same process helpers as the operations tests)

CONFIGS = {
    "sync, persistent connections": {"GUNICORN_WORKER_CLASS": "sync"},
    "gthread x4, persistent connections": {"GUNICORN_WORKER_CLASS": "gthread"},
    "gthread x4, DB_POOL=on": {"GUNICORN_WORKER_CLASS": "gthread", "DB_POOL": "on"},
}


def bench_one(label: str, extra: dict[str, str], duration: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flock_ops"),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
        "FLOCK_VAR_DIR": os.environ.get("BENCH_VAR_DIR", "/tmp/opsbench"),
        "DJANGO_SECRET_KEY": "bench-secret-key-0123456789-0123456789-0123456789-xyz",
        "DJANGO_DEBUG": "off",
        "CACHE_KEY_PREFIX": "opsbench",
        "GUNICORN_ACCESSLOG": "",
        **extra,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    user = os.environ.get("BENCH_USER", "grace-chapel-staff")
    password = os.environ.get("BENCH_PASSWORD", "bench-pass-123")
    with procs.Gunicorn(env, workers=2) as app:
        http = procs.log_in(app.url, user, password, next_url="/members/")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        for path in ("/healthz", "/members/"):
            out = subprocess.run(
                ["wrk", "-t2", "-c8", f"-d{duration}", "--latency", "-H", f"Cookie: {cookie}", app.url + path],
                capture_output=True, text=True, check=True,
            ).stdout
            rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
            p50 = re.search(r"\s50%\s+(\S+)", out).group(1)
            p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            print(f"{label:36s} {path:10s} {rps:>8s} req/s  p50 {p50:>8s}  p99 {p99:>8s}  "
                  f"non-2xx {bad.group(1) if bad else 0}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", default="8s")
    args = parser.parse_args()
    for n in range(1, args.rounds + 1):
        for label, extra in CONFIGS.items():
            bench_one(f"{label} (round {n})", extra, args.duration)
        print("load average: %.1f %.1f %.1f" % os.getloadavg(), flush=True)


if __name__ == "__main__":
    main()
