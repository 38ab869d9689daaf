"""wrk, the load generator of `make bench`: installed when missing, run for a fixed duration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from common import HOST, die, log

LUA = Path(__file__).with_name("report.lua")


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
        path = shutil.which("wrk")
        if path:
            return path
    die("wrk (the HTTP load generator) is not installed. Install it with `sudo apt-get install wrk` "
        "(Debian/Ubuntu) or `brew install wrk` (macOS), then rerun `make bench`.")
    raise AssertionError  # unreachable


def wrk_version(wrk: str) -> str:
    res = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return (res.stdout + res.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(wrk: str, port: int, path: str, *, duration: int, connections: int, threads: int,
            cookie: str | None = None, script: Path = LUA, env: dict[str, str] | None = None) -> dict:
    """One fixed-duration run; raises when anything but 200 came back. `script` may choose the
    paths itself (mix.lua: the staff mix of a file named in `env`)."""
    if not path.startswith("/"):
        raise ValueError(path)
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "-s", str(script)]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(f"http://{HOST}:{port}{path}")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                         env={**os.environ, **(env or {})})
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines:
        die(f"wrk failed on {path}: {res.stdout}{res.stderr}")
    figures = json.loads(lines[-1])
    errors = sum(figures["errors"].values())
    if figures["not200"] or errors:
        die(f"wrk on {path}: {figures['not200']} answers were not 200 and {errors} socket errors; "
            "the figures would be meaningless")
    return figures
