#!/usr/bin/env bash
# One-time set-up: a Python 3.10 venv with the pinned dependencies, the database
# schema, and a trained model (reused when its inputs have not changed).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return
  fi
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  local candidate
  for candidate in "$root"/versions/3.10.*/bin/python3.10; do
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  return 1
}

PYTHON=$(find_python310) || {
  echo "setup: Python 3.10 is required (rasa 3.6.21 does not install on 3.11+)." >&2
  echo "setup: install it, e.g. 'pyenv install 3.10.13', or put python3.10 on PATH, then run again." >&2
  exit 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==24.3.1
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip check

mkdir -p var/log
LOG=var/log/setup.log
: >"$LOG"
# A failing step says so in one line; its output (a traceback, say) goes to the log.
step() {
  local what=$1
  shift
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup: $what failed; the details are at the end of $LOG" >&2
    exit 1
  fi
}

# Redis holds the conversations: say how to get it before anything long runs.
PYTHONPATH="$PWD" .venv/bin/python -m scripts.stack --check || exit 1
step "migrating the ticket database (DATABASE_URL)" .venv/bin/python -m bot.db
echo "setup: training the model unless one for the same inputs exists (minutes the first time; log in $LOG)"
step "training the model" .venv/bin/python scripts/train_model.py
echo "setup: done. Start everything with 'make run'; chat with 'make chat'; test with 'make test'."
