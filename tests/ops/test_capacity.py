"""`make capacity`'s short version: the whole harness on a tiny database, two short steps a configuration.

It runs scripts/bench/capacity.py --tiny for "after" and "before" (servers, the "before" copy of
the database, the open-loop generator, /proc, /metrics, wrk, the report) and checks the report's
structure and that every figure is a real number; then that the harness refuses to write a
report with a missing figure, and that it leaves no server running. Figures are not judged
here: `make capacity` measures them.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(settings.BASE_DIR)
CAPACITY = ROOT / "scripts" / "bench" / "capacity.py"
PASSWORD = "tiny-capacity-password"
MEMBERS = 300
CONFIGS = ("after", "before")


def _admin(db: dict):
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname="postgres", autocommit=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CAPACITY), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A migrated, seeded tiny database of our own (dropped after), and one --tiny run over it."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_capacity"
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    tmp = tmp_path_factory.mktemp("capacity")
    with _admin(db) as conn:
        for n in (name, f"{name}_before"):
            conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        app = _env(DATABASE_URL=url, FLOCK_VAR_DIR=str(tmp / "seed"), DJANGO_DEBUG="off")
        for args in (["migrate", "--noinput", "-v", "0"],
                     ["seed_demo", "--churches", "1", "--members", str(MEMBERS), "--password", PASSWORD, "--seed", "3"]):
            res = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=app, capture_output=True,
                                 text=True, timeout=300)
            assert res.returncode == 0, res.stderr
        env = _env(BENCH_DATABASE_URL=url, BENCH_MEMBERS=str(MEMBERS), BENCH_PASSWORD=PASSWORD,
                   BENCH_VAR_DIR=str(tmp / "var"), BENCH_CACHE_KEY_PREFIX="flockcaptest")
        out = tmp / "out"
        res = _run(["--tiny", "--configs", ",".join(CONFIGS), "--out", str(out)], env, timeout=300)
        yield {"res": res, "out": out, "var": tmp / "var", "env": env, "tmp": tmp}
    finally:
        with _admin(db) as conn:
            for n in (name, f"{name}_before"):
                conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


def _finite(value, what: str) -> float:
    assert isinstance(value, (int, float)) and math.isfinite(value), f"{what} is not a real number: {value!r}"
    return float(value)


def _table_row(md: str, label: str) -> list[str]:
    row = next((line for line in md.splitlines() if line.startswith(f"| {label} |")), None)
    assert row is not None, f"no row {label!r} in the report"
    return [cell.strip() for cell in row.strip("|").split("|")][1:]



def test_it_runs_and_writes_every_figure(tiny):
    res = tiny["res"]
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((tiny["out"] / "capacity.json").read_text())
    assert list(data["configs"]) == list(CONFIGS)
    for name, cfg in data["configs"].items():
        assert _finite(cfg["capacity_rps"], f"{name} capacity") > 0
        assert cfg["at80"]["runs"], name
        assert cfg["repeats"], name
    for name in CONFIGS:
        hup = data["configs"][name]["hup"]
        _finite(hup["during"]["reload_s"], f"{name} reload")
        assert isinstance(hup["failures"], int)
    assert _finite(data["configs"]["after"]["healthz"]["median"], "healthz") > 0
    assert _finite(data["configs"]["after"]["dashboard"]["median"], "dashboard") > 0
    _finite(data["dashboard_data"]["summary"]["miss_ms"]["median"], "miss")
    assert data["steps"]
    for step in data["steps"]:
        for q in ("p50", "p95", "p99", "max"):
            _finite(step["all"][q], f"{step['config']} {q}")
        for group in ("gunicorn", "postgres", "redis", "generator", "machine"):
            assert _finite(step["cpu_s"][group], group) >= 0
        assert step["requests"] > 0 and step["server_requests"] > 0
        assert all(isinstance(kb, int) and kb > 0 for kb in step["rss_kb"]), step["rss_kb"]
    assert set(data["weights"]) >= {"dashboard", "member_list", "member_search", "member_edit", "attendance_list"}


def test_it_tabulates_before_vs_after_the_ablation_and_the_goals(tiny):
    assert tiny["res"].returncode == 0, tiny["res"].stderr[-3000:]
    md = (tiny["out"] / "capacity.md").read_text()
    for heading in ("## Goals", "## Before vs after", "## What each piece is worth", "## Curves",
                    "## How it was measured", "## Every step"):
        assert heading in md
    for label in ("capacity (req/s)", "SQL statements per request", "PostgreSQL CPU seconds per 1,000 requests",
                  "Gunicorn CPU seconds per 1,000 requests", "CPU at the 80 % rate, Gunicorn (cores busy)",
                  "CPU at the 80 % rate, load generator (cores busy)"):
        before, after, *_ = _table_row(md, label)
        float(before), float(after)
    before, after, *_ = _table_row(md, "RSS per worker (MB)")
    assert re.fullmatch(r"\d+ × 1", before) and re.fullmatch(r"\d+ × \d+", after)
    before, after, *_ = _table_row(md, "failed requests across a HUP (`make deploy`) under load")
    assert re.fullmatch(r"\d+ of [\d,]+", before) and re.fullmatch(r"\d+ of [\d,]+", after)
    goals = [line for line in md.split("## Goals", 1)[1].split("##", 1)[0].splitlines() if line.startswith("| ")][2:]
    assert len(goals) == 5  # no "cache off" in this run, so no SQL ratio
    assert all("**met**" in g or "**not met**" in g for g in goals)
    assert "cannot be turned off" in md
    if Path("/usr/bin/chromium").exists():
        assert (tiny["out"] / "capacity.png").stat().st_size > 1000


def test_it_leaves_no_server_running(tiny):
    # Gunicorn removes its pidfile when the master exits; the generator and Redis were stopped by pid.
    assert not list(tiny["var"].glob("gunicorn-*.pid"))
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(tiny["var"]) not in ps


def test_it_refuses_to_write_a_report_with_a_missing_figure(tiny):
    assert tiny["res"].returncode == 0, tiny["res"].stderr[-3000:]
    data = json.loads((tiny["out"] / "capacity.json").read_text())
    del data["configs"]["after"]["healthz"]
    broken = tiny["tmp"] / "broken.json"
    broken.write_text(json.dumps(data))
    out = tiny["tmp"] / "refused"
    res = _run(["--from-json", str(broken), "--out", str(out)], tiny["env"], timeout=60)
    assert res.returncode == 1
    assert "healthz" in res.stderr and "no report written" in res.stderr
    assert not (out / "capacity.md").exists()


def test_it_refuses_a_run_without_the_after_configuration(tiny):
    res = _run(["--tiny", "--configs", "before", "--out", str(tiny["tmp"] / "none")], tiny["env"], timeout=60)
    assert res.returncode == 1 and "must include 'after'" in res.stderr
    shutil.rmtree(tiny["tmp"] / "none", ignore_errors=True)


def test_it_reports_a_capacity_below_the_lowest_rate_tried(tiny):
    """A configuration whose p95 stays above the bound at every rate tried has no capacity figure
    to divide by: the report says "< lowest rate" and the ratio "> n×" instead of failing."""
    assert tiny["res"].returncode == 0, tiny["res"].stderr[-3000:]
    data = json.loads((tiny["out"] / "capacity.json").read_text())
    before = data["configs"]["before"]
    lowest = before["capacity_rps"]
    before.update(capacity_rps=0.0, below_rps=lowest)
    below = tiny["tmp"] / "below.json"
    below.write_text(json.dumps(data))
    out = tiny["tmp"] / "below"
    res = _run(["--from-json", str(below), "--out", str(out)], tiny["env"], timeout=60)
    assert res.returncode == 0, res.stderr
    md = (out / "capacity.md").read_text()
    before_cap, _, change, _ = _table_row(md, "capacity (req/s)")
    assert before_cap == f"< {lowest:.1f}" and change.startswith("**> ")
    assert f"| before: {before['what']} | < {lowest:.1f} |" in md
