"""CPU and memory of the processes under test, from /proc (Linux), for `make capacity`.

Each snapshot records the CPU ticks (user + system) of every process of a group, by pid; the
difference of two snapshots is the CPU seconds the group used in between. A pid that appears
in the second snapshot only was born in between and counts from zero. The machine's total busy
time (/proc/stat) is recorded beside it, so the share the groups do not explain (other work on
a shared machine) is visible too.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Gunicorn's workers of its master)."""
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in raw.split()]


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_busy_s() -> tuple[float, float]:
    """(busy seconds, total seconds) of all CPUs since boot."""
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in cpu[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


def snapshot(groups: dict[str, list[int]]) -> dict:
    out: dict = {"groups": {}}
    for name, pids in groups.items():
        out["groups"][name] = {pid: t for pid in pids if (t := ticks(pid)) is not None}
    out["busy"], out["total"] = machine_busy_s()
    return out


def cpu_delta(a: dict, b: dict) -> dict[str, float]:
    """CPU seconds per group between snapshots a and b, plus `machine` (all CPUs, busy)."""
    out = {}
    for name, end in b["groups"].items():
        start = a["groups"].get(name, {})
        out[name] = sum(max(0, t - start.get(pid, 0)) for pid, t in end.items()) / TICK
    out["machine"] = b["busy"] - a["busy"]
    return out
