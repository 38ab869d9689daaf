"""`make loadtest`: Locust, headless, against a Gunicorn on 127.0.0.1; writes docs/loadtest.md.

    make loadtest
    LOADTEST_USERS=50 LOADTEST_RUN_TIME=120s make loadtest
    LOADTEST_HOST=http://127.0.0.1:8000 make loadtest     # a server you started (loopback only)

Without LOADTEST_HOST it uses the bench database (seeded by `make bench` or here: one church of
BENCH_MEMBERS members) and starts `gunicorn -c gunicorn.conf.py` with workers = cores, cache on.
"""

from __future__ import annotations

import csv
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import DOCS, ROOT, VAR, Server, log  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _metrics(port: int | None) -> list | None:
    if port is None:
        return None
    try:
        return common.metric_samples(port)
    except SystemExit:
        return None


def main() -> int:
    users = int(os.environ.get("LOADTEST_USERS", "20"))
    # Two new users a second: logins (PBKDF2, deliberately slow) arrive spread out, as in an office.
    spawn = float(os.environ.get("LOADTEST_SPAWN_RATE", "2"))
    run_time = os.environ.get("LOADTEST_RUN_TIME", "60s")
    host = os.environ.get("LOADTEST_HOST", "").strip()
    server = None
    if host:
        parsed = urlparse(host)
        if parsed.hostname not in LOOPBACK:
            common.die(f"LOADTEST_HOST must be a loopback address (127.0.0.1); got {host!r}")
        port = parsed.port or 80
        accounts_env = {}
        if "LOADTEST_ACCOUNTS" not in os.environ and "LOADTEST_ACCOUNTS_FILE" not in os.environ:
            common.die("with LOADTEST_HOST, give the accounts: LOADTEST_ACCOUNTS=user:password[,...] "
                       "or LOADTEST_ACCOUNTS_FILE (lines `username password`)")
        target = "the server at " + host
    else:
        fixture = common.ensure_fixture(reseed=False)
        server = Server("loadtest", cache_aside=True).start()
        host, port = server.base, server.port
        # A server that has been up a while has warm caches: fill them before the users arrive.
        warm = common.login(port, fixture.username, fixture.password)
        for path in ("/dashboard/", "/members/", "/groups/"):
            warm.get(path)
        warm.close()
        accounts_env = {"LOADTEST_ACCOUNTS_FILE": str(common.ACCOUNTS_FILE)}
        target = (f"Gunicorn (`gunicorn -c gunicorn.conf.py`, {server.workers} workers, cache on) on the bench "
                  f"database: church `{fixture.slug}` with {fixture.members:,} members")
    prefix = VAR / "locust"
    VAR.mkdir(parents=True, exist_ok=True)
    cmd = [str(common.VENV_BIN / "locust"), "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
           "-u", str(users), "-r", str(spawn), "-t", run_time, "--host", host, "--csv", str(prefix),
           "--only-summary", "--stop-timeout", "10"]
    log(f"locust: {users} users, spawn rate {spawn}/s, {run_time}, against {host}")
    before = _metrics(port)
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **accounts_env})
    finally:
        after = _metrics(port)
        if server is not None:
            server.stop()
    elapsed = time.monotonic() - t0
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        common.die(f"locust wrote no statistics (exit {res.returncode})")
    rows = list(csv.DictReader(stats_file.open()))
    failures = list(csv.DictReader(Path(f"{prefix}_failures.csv").open())) if Path(f"{prefix}_failures.csv").exists() else []
    write_markdown(rows, failures, before=before, after=after, target=target, users=users, spawn=spawn,
                   run_time=run_time, started=started, elapsed=elapsed, exit_code=res.returncode)
    log("wrote docs/loadtest.md")
    # Locust exits 1 when any request failed: pass that on (the report says which).
    return res.returncode


def write_markdown(rows, failures, *, before, after, target, users, spawn, run_time, started, elapsed,
                   exit_code) -> None:
    def f(row, key, fmt="{:.0f}"):
        value = row.get(key, "")
        try:
            return fmt.format(float(value))
        except ValueError:
            return value or "–"

    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    L = ["# Load test", ""]
    L.append(f"`make loadtest` on {started:%Y-%m-%d %H:%M} UTC: Locust {_locust_version()}, headless, "
             f"{users} users (spawn rate {spawn:g}/s), {run_time}, against {target}. Each user logs in through "
             "the login form once, then clicks through the staff mix of `loadtest/locustfile.py` with 0.5–2 s "
             "of think time (`StaffMix`): dashboard (weight 10), member list (6), typed pages up to 200 (2), "
             "Next from a page (1), search (3), member page (5), group list (2), roster (2), attendance list (2) "
             "and a session's checklist (1), texts (1, when the messaging pages exist), and editing a member's "
             "phone number (1: a write, which invalidates the church's cached lists, rosters and member pages). "
             "This is the quick smoke test (no failure, rough latencies); capacity is measured open-loop by "
             "`make capacity` (docs/capacity.md). "
             f"{os.cpu_count()} cores; the load generator runs on the same machine. Logging in hashes the "
             "password with PBKDF2 (Django's default: deliberately slow and CPU-bound), so the `login` rows "
             "show the ramp-up competing with everything else.")
    L.append("")
    if total:
        L.append(f"**{f(total, 'Requests/s', '{:.1f}')} req/s** over {f(total, 'Request Count')} requests, "
                 f"**{f(total, 'Failure Count')} failures**; p50 {f(total, '50%')} ms, p95 {f(total, '95%')} ms, "
                 f"p99 {f(total, '99%')} ms.")
        L.append("")
    if before and after:
        sql = (common.metric_sum(after, "flock_db_queries_total") - common.metric_sum(before, "flock_db_queries_total"))
        hits = (common.metric_sum(after, "flock_cache_aside_total", outcome="hits")
                - common.metric_sum(before, "flock_cache_aside_total", outcome="hits"))
        misses = (common.metric_sum(after, "flock_cache_aside_total", outcome="misses")
                  - common.metric_sum(before, "flock_cache_aside_total", outcome="misses"))
        n = float(total["Request Count"]) if total else 0
        line = f"From the server's `/metrics`: {sql:,.0f} SQL statements"
        if n:
            line += f" ({sql / n:.2f} per request)"
        if hits + misses:
            line += f"; cache-aside {hits:,.0f} hits, {misses:,.0f} misses (hit ratio {hits / (hits + misses):.1%})"
        L.append(line + ".")
        L.append("")
    L.append("| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        name = "**all**" if r["Name"] == "Aggregated" else f"{r['Type']} `{r['Name']}`"
        L.append(f"| {name} | {f(r, 'Request Count')} | {f(r, 'Failure Count')} | {f(r, 'Requests/s', '{:.2f}')} | "
                 f"{f(r, '50%')} | {f(r, '95%')} | {f(r, '99%')} | {f(r, 'Max Response Time')} |")
    L.append("")
    if failures:
        L.append("Failures:")
        L.append("")
        L.append("| endpoint | error | occurrences |")
        L.append("| --- | --- | ---: |")
        for r in failures:
            L.append(f"| {r.get('Method', '')} `{r.get('Name', '')}` | {r.get('Error', '').replace('|', '/')} | "
                     f"{r.get('Occurrences', '')} |")
        L.append("")
    L.append(f"Locust exit code {exit_code} (1 when any request failed); wall time {elapsed:.0f} s. "
             "Rerun with `make loadtest` (`LOADTEST_USERS`, `LOADTEST_SPAWN_RATE`, `LOADTEST_RUN_TIME`, "
             "`LOADTEST_HOST` for a server already running on 127.0.0.1 with `LOADTEST_ACCOUNTS=user:password`).")
    L.append("")
    (DOCS / "loadtest.md").write_text("\n".join(L))


def _locust_version() -> str:
    try:
        from importlib.metadata import version

        return version("locust")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
