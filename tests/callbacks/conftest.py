"""Fixtures for the callback tests: policies, a migrated store on SQLite and PostgreSQL, and
the real Redis named by REDIS_HOST/REDIS_PORT (default 127.0.0.1:6379)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.callbacks.policy import CallbackPolicy
from bot.callbacks.store import CallbackStore
from bot.db import make_engine, make_sessionmaker, migrate
from bot.tickets import TicketStore

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = 5
"""The callback tests' own database on the test Redis (the outbound tests use 4)."""


class Clock:
    """A clock the test sets: what the actions and the worker read as now."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_policy(**overrides: Any) -> CallbackPolicy:
    """The shipped settings/callbacks.yml with ``overrides`` applied."""
    raw = yaml.safe_load((ROOT / "settings" / "callbacks.yml").read_text(encoding="utf-8"))
    return CallbackPolicy.parse_obj({**raw, **overrides})


@pytest.fixture
def policy() -> CallbackPolicy:
    """London business, Mon–Fri 09:00–17:00 and Sat 10:00–13:00, 30-minute slots, 2 seats."""
    return make_policy()


@pytest.fixture
def engine_url(db_url: str) -> Iterator[str]:
    """The SQLite or PostgreSQL store of this test, migrated."""
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    yield db_url


@pytest.fixture
def stores(engine_url: str, policy: CallbackPolicy) -> Iterator[tuple[CallbackStore, TicketStore]]:
    """The callback store and the ticket store on one migrated database."""
    engine = make_engine(engine_url)
    sessions = make_sessionmaker(engine)
    yield CallbackStore(sessions, capacity=policy.capacity_per_slot), TicketStore(sessions, attempts=3, delay_s=0.05)
    engine.dispose()


@pytest.fixture
def redis_db() -> int:
    """This suite's database on the test Redis (``redis_client``: tests/conftest.py)."""
    return REDIS_DB
