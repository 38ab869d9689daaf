#!/usr/bin/env bash
# `make run`'s server: Gunicorn in the foreground (PORT) and, unless RUN_WORKER=0, one task worker
# beside it (`manage.py run_worker`: sends the texts, runs the periodic jobs). The worker is stopped
# by its pid (SIGTERM: it finishes the text it is sending) when Gunicorn stops, however it stops.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
RUN_WORKER=${RUN_WORKER:-1}
case "$RUN_WORKER" in
  0|1) ;;
  *) echo "run: RUN_WORKER must be 0 or 1, got '$RUN_WORKER'" >&2; exit 2 ;;
esac

worker_pid=""
gunicorn_pid=""
stop_worker() {
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid" 2>/dev/null
    wait "$worker_pid" 2>/dev/null
  fi
}
trap stop_worker EXIT
# Ctrl-C / SIGTERM to this script: stop Gunicorn gracefully (the worker follows, above).
trap '[ -n "$gunicorn_pid" ] && kill -TERM "$gunicorn_pid" 2>/dev/null' INT TERM

if [ "$RUN_WORKER" = "1" ]; then
  "$VENV/bin/python" manage.py run_worker &
  worker_pid=$!
  echo "run: task worker started (pid $worker_pid); RUN_WORKER=0 starts none"
fi

"$VENV/bin/gunicorn" -c gunicorn.conf.py churchapp.wsgi &
gunicorn_pid=$!
status=0
# `wait` returns early when a trapped signal arrives: keep waiting until Gunicorn has exited.
while kill -0 "$gunicorn_pid" 2>/dev/null; do
  wait "$gunicorn_pid"
  status=$?
done
exit "$status"
