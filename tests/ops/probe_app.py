"""A test-only WSGI wrapper around Flock for the Gunicorn tests (never deployed).

- Every response carries `X-Probe-Version`: the text of `$FLOCK_PROBE_VERSION_FILE`, read
  once when a worker imports this module. A test rewrites the file and sends HUP: responses
  from the new workers carry the new text, proving HUP loads code afresh.
- `GET /probe/slow?seconds=N` answers after N seconds: an in-flight request for SIGTERM drain tests.
- `GET /probe/pid` answers the worker's pid.
Everything else is Flock itself.
"""

import os
import time
from pathlib import Path
from urllib.parse import parse_qs

from churchapp.wsgi import application as flock

_version_file = os.environ.get("FLOCK_PROBE_VERSION_FILE", "")
VERSION = Path(_version_file).read_text().strip() if _version_file else ""


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/probe/slow":
        seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["2"])[0])
        time.sleep(seconds)
        return _text(start_response, f"slept {seconds}\n")
    if path == "/probe/pid":
        return _text(start_response, f"{os.getpid()}\n")

    def versioned(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Probe-Version", VERSION)], exc_info)

    return flock(environ, versioned)


def _text(start_response, body: str):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Probe-Version", VERSION)])
    return [body.encode()]
