#!/usr/bin/env bash
# The whole test suite: data validation, Rasa test stories against the trained
# model, then pytest (unit, actions, the ticket store on SQLite and PostgreSQL,
# scripted customers talking to a running stack, the web chat in a real browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
RASA=.venv/bin/rasa
MODEL=$(.venv/bin/python scripts/train_model.py)

echo "== rasa data validate"
$RASA data validate --config config.yml --domain domain.yml --data data

echo "== rasa test core (tests/test_stories.yml)"
rm -rf results/core
$RASA test core --model "$MODEL" --stories tests/test_stories.yml --fail-on-prediction-errors --out results/core

echo "== Debian's chromium for the browser tests (Playwright drives it; no browser is downloaded)"
if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

echo "== pytest"
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
# These run each in a pytest process of its own: the call-back and hand-off dialogue tests run
# a Rasa agent inside the test process, and the suites that run the arq worker inside the test
# process wait forever on their event loop when they share a process with the earlier
# suites (cause not found yet; each passes alone, which is how they run here).
OWN_PROCESS=(tests/callbacks/test_dialogue_rasa.py tests/handoff/test_dialogue_rasa.py tests/callbacks/test_jobs.py tests/followup tests/sla tests/worker)
.venv/bin/python -m pytest "${OWN_PROCESS[@]/#/--ignore=}"
for part in "${OWN_PROCESS[@]}"; do
  .venv/bin/python -m pytest "$part"
done
