"""Actions run against real trackers and a CollectingDispatcher, with the runtime's
ticket store on a real database chosen per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.runtime import Runtime, runtime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The domain as Rasa sends it to the action server."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


ACTIONS_REDIS_DB = 11
"""The job queue's database on the test Redis (REDIS_HOST/REDIS_PORT) for these tests: filing a
ticket queues its SLA checks at once (bot.actions.tickets.watch_sla)."""


@pytest.fixture
def action_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A fresh runtime on a temporary SQLite store and spool, its job queue in :data:`ACTIONS_REDIS_DB`."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tickets.db'}")
    monkeypatch.setenv("COMPLAINTS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("WORKER_REDIS_DB", os.environ.get("ACTIONS_TEST_REDIS_DB", str(ACTIONS_REDIS_DB)))
    runtime.cache_clear()
    yield runtime()
    runtime.cache_clear()


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    """A tracker whose latest message is the last user event given."""

    def build(events: list[dict[str, Any]], slots: dict[str, Any] | None = None,
              active_loop: str | None = None, sender_id: str = "customer-1") -> Tracker:
        latest = next((e["parse_data"] for e in reversed(events) if e["event"] == "user"), {})
        return Tracker(
            sender_id, dict(slots or {}), latest, events, False, None,
            {"name": active_loop} if active_loop else {}, "action_listen",
        )

    return build
