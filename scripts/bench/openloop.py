"""The load generator of `make capacity`: the staff mix of loadtest/locustfile.py, open-loop.

    openloop.py --host http://127.0.0.1:PORT --sessions FILE --targets FILE [--skip messages]

One long-lived process per server under test (so its CPU is its own in /proc), driven by JSON
lines on stdin, answering JSON lines on stdout:

    {"cmd": "step", "rate": 120, "warmup": 4, "duration": 15}   -> {"event": "measuring"}, then
                                                                    {"event": "result", ...}
    {"cmd": "closed", "users": 16, "warmup": 2, "duration": 5}  -> the same, with no waiting
    {"cmd": "quit"}

Guarantees:
- Arrivals do not wait on responses while the server keeps up: Locust `FastHttpUser`s, each
  paced at a fixed interval of about `USER_INTERVAL` seconds (a constant-throughput wait: 8x the
  250 ms p95 bound), and as many users as the rate needs (rate x interval). A user whose last
  request ran past its next start time starts at once and is counted `late`: a step with late
  arrivals was not offered at its nominal rate, and the report says so.
- Sessions are logged in once, through the login form, by the harness (a few, shared by all
  users): hundreds of users must not each pay a deliberately slow PBKDF2 login inside a step.
- Response times are kept exactly (every request of the measured window, per page type), not
  Locust's rounded histogram; failures are counted with their first messages.
- Only the host given (127.0.0.1) is ever contacted.
"""

from __future__ import annotations

# Locust patches the standard library for gevent on import: first, before anything else.
from locust import FastHttpUser, events  # noqa: I001
from locust.env import Environment

import argparse
import json
import math
import sys
import time
from pathlib import Path

import gevent
from gevent.fileobject import FileObjectThread

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "loadtest"))
import locustfile  # noqa: E402
from locustfile import REQUESTS_PER_TASK, StaffMix, task_weights  # noqa: E402

USER_INTERVAL = 2.0  # seconds between one user's requests (8x the 250 ms p95 bound)


class Pacing:
    """The shared schedule: each user starts a task every `interval` seconds (0: no waiting)."""

    interval = USER_INTERVAL
    late = 0
    arrivals = 0


def paced(user) -> float:
    now = time.monotonic()
    Pacing.arrivals += 1
    if Pacing.interval <= 0:
        return 0.0
    nxt = getattr(user, "_next_start", now) + Pacing.interval
    if nxt < now:
        Pacing.late += 1
        nxt = now  # no catching up in a burst: the user restarts its schedule from now
    user._next_start = nxt
    return nxt - now


class CapacityUser(FastHttpUser):
    tasks = [StaffMix]
    wait_time = paced
    sessions: list[dict[str, str]] = []
    _count = 0
    # Long enough that an overloaded server shows as latency, not as client timeouts.
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        CapacityUser._count += 1
        cookies = self.sessions[CapacityUser._count % len(self.sessions)]
        self.client.cookiejar.clear()
        self.default_cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self._next_start = time.monotonic()

    # Every request of this user carries its (shared) session and CSRF cookies.
    def __init__(self, environment) -> None:
        super().__init__(environment)
        original = self.client.request

        def request(method, url, **kwargs):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Cookie", self.default_cookie)
            if method == "POST":
                headers.setdefault("Referer", f"{self.host}{url}")
            return original(method, url, headers=headers, **kwargs)

        self.client.request = request


class Recorder:
    """Response times (ms) and failures per page type while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.times: dict[str, list[float]] = {}
        self.failures: dict[str, int] = {}
        self.messages: dict[str, int] = {}

    def reset(self) -> None:
        self.times, self.failures, self.messages = {}, {}, {}

    def __call__(self, request_type, name, response_time, response_length, exception=None, **kw) -> None:
        if not self.on:
            return
        self.times.setdefault(name, []).append(float(response_time))
        if exception is not None:
            self.failures[name] = self.failures.get(name, 0) + 1
            msg = f"{request_type} {name}: {str(exception)[:160]}"
            self.messages[msg] = self.messages.get(msg, 0) + 1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def summary(times: list[float]) -> dict:
    return {"count": len(times), "p50": percentile(times, 50), "p95": percentile(times, 95),
            "p99": percentile(times, 99), "max": max(times), "mean": sum(times) / len(times)}


def cpu_seconds() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def requests_per_task() -> float:
    weights = task_weights()
    return sum(w * REQUESTS_PER_TASK.get(name, 1) for name, w in weights.items()) / sum(weights.values())


def run_step(runner, recorder: Recorder, out, *, users: int, interval: float, warmup: float,
             duration: float) -> dict:
    Pacing.interval = interval
    # Users are added over one interval, so their schedules are spread evenly from the start.
    spawn_rate = users / interval if interval > 0 else users * 10
    runner.start(users, spawn_rate=max(1.0, spawn_rate))
    gevent.sleep(warmup)
    recorder.reset()
    Pacing.late = Pacing.arrivals = 0
    TASK_RUNS.clear()
    cpu0, t0 = cpu_seconds(), time.monotonic()
    recorder.on = True
    emit(out, {"event": "measuring"})
    gevent.sleep(duration)
    recorder.on = False
    wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    if interval <= 0:
        # Closed-loop users would hammer on into the next step: the next one starts afresh.
        runner.stop()
    every = [t for ts in recorder.times.values() for t in ts]
    res = {
        "event": "result", "users": users, "interval_s": interval, "wall_s": wall,
        "requests": len(every), "failures": sum(recorder.failures.values()),
        "achieved_rps": len(every) / wall, "arrivals": Pacing.arrivals, "late": Pacing.late,
        "generator_cpu_s": cpu, "task_runs": dict(TASK_RUNS),
        "all": summary(every) if every else None,
        "pages": {name: {**summary(ts), "failures": recorder.failures.get(name, 0)}
                  for name, ts in sorted(recorder.times.items())},
        "failure_messages": sorted(recorder.messages.items(), key=lambda kv: -kv[1])[:5],
    }
    return res


def emit(out, obj: dict) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


TASK_RUNS: dict[str, int] = {}
_COUNTED: dict = {}


def counted(fn):
    """The task, counting its runs (one wrapper per task, so the weights stay countable)."""
    if fn not in _COUNTED:
        def run(taskset):
            TASK_RUNS[fn.__name__] = TASK_RUNS.get(fn.__name__, 0) + 1
            return fn(taskset)

        run.__name__ = fn.__name__
        _COUNTED[fn] = run
    return _COUNTED[fn]


def missing_pages(host: str, cookies: dict[str, str]) -> set[str]:
    """The mix's optional pages that answer 404 here (not built on this branch): left out."""
    import urllib.error
    import urllib.request

    missing = set()
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    for task_name, path in locustfile.OPTIONAL_PAGES.items():
        req = urllib.request.Request(f"{host}{path}", headers={"Cookie": cookie})
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                missing.add(task_name)
    return missing


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--sessions", required=True, help="JSON list of cookie dicts (logged-in sessions)")
    parser.add_argument("--targets", required=True, help="JSON: member_ids, group_ids, terms, sessions, next_url")
    parser.add_argument("--interval", type=float, default=USER_INTERVAL, help="seconds between a user's tasks")
    parser.add_argument("--skip", default="", help="tasks to leave out (pages missing on this branch)")
    args = parser.parse_args()
    if not args.host.startswith("http://127.0.0.1:"):
        raise SystemExit("openloop: only http://127.0.0.1 hosts")
    CapacityUser.sessions = json.loads(Path(args.sessions).read_text())
    StaffMix.targets = json.loads(Path(args.targets).read_text())
    skip = {s for s in args.skip.split(",") if s} | missing_pages(args.host, CapacityUser.sessions[0])
    locustfile.SKIPPED.update(skip)
    StaffMix.tasks = [counted(t) for t in StaffMix.tasks if t.__name__ not in skip]

    env = Environment(user_classes=[CapacityUser], host=args.host, events=events)
    recorder = Recorder()
    env.events.request.add_listener(recorder)
    runner = env.create_local_runner()
    stdin = FileObjectThread(sys.stdin, "r")
    out = sys.stdout
    per_task = requests_per_task()
    emit(out, {"event": "ready", "weights": task_weights(), "skipped": sorted(skip), "requests_per_task": per_task,
               "user_interval_s": args.interval})
    for line in stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        if cmd["cmd"] == "step":
            if not cmd["rate"] > 0:
                raise SystemExit(f"openloop: a step needs a positive rate, not {cmd['rate']!r}")
            # Tasks per second = requests per second / requests per task.
            task_rate = cmd["rate"] / per_task
            users = max(1, math.ceil(task_rate * args.interval))
            res = run_step(runner, recorder, out, users=users, interval=users / task_rate,
                           warmup=cmd["warmup"], duration=cmd["duration"])
        elif cmd["cmd"] == "closed":
            res = run_step(runner, recorder, out, users=cmd["users"], interval=0.0,
                           warmup=cmd["warmup"], duration=cmd["duration"])
        else:
            raise SystemExit(f"openloop: unknown command {cmd!r}")
        res["offered_rps"] = cmd.get("rate")
        emit(out, res)
    runner.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
