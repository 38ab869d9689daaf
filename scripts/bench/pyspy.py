"""Where a worker's time goes under the staff mix: py-spy samples of the Gunicorn workers, summed.

`record` starts `py-spy record --nonblocking --gil` on every worker for the step's window: the
workers are never paused (the step's own figures are hardly disturbed), and only threads holding
the GIL are sampled, so the samples are where the workers' Python CPU time goes (a thread waiting
for PostgreSQL or Redis has released the GIL and is not counted). `summarise` reads the raw
stacks (one line per distinct stack, "frame;frame;...;leaf count") and attributes each sample
twice:
- to a layer, the innermost frame that belongs to a known one (the SQL driver, the ORM,
  templates, Redis, ...): "self time" by layer;
- to the view it ran under (a frame in an app's views.py), as a share of all busy samples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

# Innermost match wins: ordered from the most specific to the most general.
LAYERS = (
    ("PostgreSQL driver (psycopg: send, wait, rows)", ("psycopg/", "psycopg_pool/")),
    ("Redis client (redis-py, django-redis, hiredis)", ("redis/", "django_redis/")),
    ("Prometheus metrics", ("prometheus_client/", "django_prometheus/")),
    ("ORM (building SQL, rows to objects)", ("django/db/",)),
    ("templates (rendering)", ("django/template/", "django/templatetags/")),
    ("forms and widgets", ("django/forms/",)),
    ("sessions, auth, CSRF, messages", ("django/contrib/sessions/", "django/contrib/auth/", "django/middleware/csrf",
                                       "django/contrib/messages/")),
    ("Flock's own code", ("members/", "attendance/", "analytics/", "cachemon/", "churchapp/", "messaging/")),
    ("Django request handling (middleware, URLs, responses)", ("django/",)),
    ("Gunicorn (HTTP parsing, sockets, logging)", ("gunicorn/",)),
)
ARGS = ("--rate", "100", "--nonblocking", "--gil")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+\.py):\d+\)$")
_VIEW = re.compile(r"(?:^|/)(?P<app>\w+)/views\.py$")


VENV_PYSPY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "py-spy"


def available() -> str | None:
    """The py-spy command (requirements-dev.txt), or None."""
    return str(VENV_PYSPY) if VENV_PYSPY.exists() else shutil.which("py-spy")


def record(pids: list[int], seconds: float, out_dir: Path) -> list[tuple[subprocess.Popen, Path]]:
    exe = available()
    if exe is None:
        raise RuntimeError("py-spy is not installed (requirements-dev.txt)")
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in pids:
        out = out_dir / f"pyspy-{pid}.txt"
        procs.append((subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                                        *ARGS, "--format", "raw", "--output", str(out)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    return procs


def wait(procs: list[tuple[subprocess.Popen, Path]], timeout: float) -> list[Path]:
    files = []
    for proc, out in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if out.exists():
            files.append(out)
    return files


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        m = _FRAME.match(frame)
        if not m:
            continue
        path = m.group("file")
        for label, needles in LAYERS:
            if any(path.startswith(n) or f"/{n}" in path for n in needles):
                return label
    return "other (standard library, interpreter)"


def _view(frames: list[str]) -> str:
    for frame in frames:
        m = _FRAME.match(frame)
        view = _VIEW.search(m.group("file")) if m else None
        if view:
            return f"{view.group('app')}.views.{m.group('func')}"
    return "outside a view (middleware, sessions, Gunicorn)"


def summarise(files: list[Path]) -> dict:
    layers: dict[str, int] = {}
    views: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            layers[_layer(frames)] = layers.get(_layer(frames), 0) + n
            views[_view(frames)] = views.get(_view(frames), 0) + n
            leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
    if not total:
        return {"samples": 0, "layers": [], "views": [], "leaves": [], "args": " ".join(ARGS)}

    def share(d: dict[str, int], k: int | None = None) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in sorted(d.items(), key=lambda kv: -kv[1])[:k]]

    return {"samples": total, "layers": share(layers), "views": share(views), "leaves": share(leaves, 12),
            "args": " ".join(ARGS)}
