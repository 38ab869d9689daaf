#!/usr/bin/env bash
# `make deploy`: install the pinned requirements, migrate, collect static files, then reload the
# running Gunicorn master with HUP (new workers on the new code, old ones finish their requests)
# or, when none is running, start one in the background. Stops at the first failing step and
# then leaves the running app untouched. See docs/operations.md (deploy, rollback, signals).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
VAR_DIR=${FLOCK_VAR_DIR:-var}
PIDFILE=${GUNICORN_PIDFILE:-$VAR_DIR/gunicorn.pid}
CHECK_URL=${DEPLOY_CHECK_URL:-http://127.0.0.1:${PORT:-8000}/healthz}
step="start"
trap 'echo "!! deploy FAILED during: $step. The running app (if any) was NOT reloaded." >&2' ERR

step="install requirements"
if [ "${DEPLOY_SKIP_INSTALL:-}" = "1" ]; then
  echo "== $step: skipped (DEPLOY_SKIP_INSTALL=1, the virtualenv is built elsewhere) =="
else
  echo "== $step =="
  test -x "$PY" || python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
fi

step="system checks"
echo "== $step =="
"$PY" manage.py check

step="migrate"
echo "== $step =="
"$PY" manage.py migrate --noinput

step="collectstatic"
echo "== $step =="
"$PY" manage.py collectstatic --noinput -v 0

master_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

wait_healthy() {
  "$PY" - "$CHECK_URL" <<'EOF'
import sys, time, urllib.request
url = sys.argv[1]
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.status == 200:
                print(f"{url} answers 200")
                break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit(f"{url} is not answering after 60s: {exc}")
    time.sleep(0.5)
EOF
}

if pid=$(master_pid); then
  step="reload Gunicorn (HUP to $pid)"
  echo "== $step =="
  kill -HUP "$pid"
  wait_healthy
  echo "reloaded: master $pid is starting workers on the new code; old workers finish their requests"
else
  step="start Gunicorn"
  echo "== $step =="
  # Daemonized, there is no terminal: logs go to files under var/ unless told otherwise.
  export GUNICORN_ACCESSLOG=${GUNICORN_ACCESSLOG:-$VAR_DIR/gunicorn-access.log}
  export GUNICORN_ERRORLOG=${GUNICORN_ERRORLOG:-$VAR_DIR/gunicorn-error.log}
  "$VENV/bin/gunicorn" -c gunicorn.conf.py --daemon churchapp.wsgi
  wait_healthy
  echo "started: master $(cat "$PIDFILE"), logs in $GUNICORN_ERRORLOG and $GUNICORN_ACCESSLOG"
fi
