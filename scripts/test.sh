#!/usr/bin/env bash
# The whole test suite: data validation, Rasa test stories against the trained
# model, then pytest (unit, actions, the ticket store on SQLite and PostgreSQL, and
# scripted customers talking to a running stack over REST).
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

echo "== pytest"
.venv/bin/python -m pytest "$@"
