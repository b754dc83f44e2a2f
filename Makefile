# The three commands of the README. Each calls one script; see README.md.
.PHONY: setup run test chat bench

setup:
	bash scripts/setup.sh

run:
	.venv/bin/python -m scripts.stack

test:
	bash scripts/test.sh

chat:
	.venv/bin/python scripts/chat.py

bench:
	.venv/bin/python bench/load.py
