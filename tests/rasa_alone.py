"""One real Rasa server without an action server, for tests that only append events to trackers
or run responses (``utter_*``): the trained model (or E2E_MODEL), the Redis tracker and lock stores
in E2E_REDIS_DBS, fresh API and action tokens."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.stack import Stack, stack_environment
from scripts.train_model import model_path

TRACKER_DB, LOCK_DB = (int(db) for db in os.environ.get("E2E_REDIS_DBS", "13,14").split(","))


@contextmanager
def rasa_alone(port: int, log_dir: Path) -> Iterator[Stack]:
    """A Rasa server on ``port`` (the action port, unused, is the next one) while the block runs."""
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run 'make setup' first"
    env = stack_environment({
        "RASA_PORT": str(port), "RASA_PROCESSES": "1", "ACTION_PORT": str(port + 1),
        "REDIS_TRACKER_DB": str(TRACKER_DB), "REDIS_LOCK_DB": str(LOCK_DB),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTION_TOKEN": secrets.token_urlsafe(24),
    })
    stack = Stack(env=env, log_dir=log_dir, with_actions=False)
    try:
        stack.start(model)
        yield stack
    finally:
        stack.stop()
