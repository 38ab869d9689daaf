#!/usr/bin/env bash
# `make run`'s last set-up step, after the migrations' output: where to open Flock and how to log in.
# $1: the account lines seed_demo printed (none when the database already had data).
set -euo pipefail
accounts=${1:-var/run-accounts.txt}
echo
echo "== Flock: open http://127.0.0.1:${PORT:-8000}/ =="
if grep -q '^account: ' "$accounts" 2>/dev/null; then
  echo "Log in with a staff account (or the admin one for /admin/):"
  grep '^account: ' "$accounts"
else
  echo "The database already has data, so no demo accounts were made this time. For a login:"
  echo "  .venv/bin/python manage.py demo_login           # a staff account, with a new password"
  echo "  .venv/bin/python manage.py demo_login --admin   # a platform admin, for /admin/"
fi
echo
