# The three commands of the README. Each calls one script; see README.md.
.PHONY: setup run test chat bench venv

setup:
	bash scripts/setup.sh

run: venv
	.venv/bin/python -m scripts.stack

test:
	bash scripts/test.sh

chat: venv
	.venv/bin/python -m scripts.chat

bench: venv
	.venv/bin/python bench/load.py

venv:
	@test -x .venv/bin/python || { echo "no .venv here yet: run 'make setup' first"; exit 1; }
