"""Fixtures for the hand-off tests: the shipped policy (or a variant), migrated SQLite and
PostgreSQL stores, and the real Redis for the live notices.

| variable | default | meaning |
|---|---|---|
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis the notices are published on |
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from sqlalchemy.engine import Engine

from bot.callbacks.policy import CallbackPolicy
from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import SlaConfig, load_domain_config
from bot.handoff.policy import HandoffPolicy
from bot.handoff.store import HandoffStore
from bot.tickets import TicketRecord, TicketStore
from tests.sla.conftest import make_draft

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
UTC = timezone.utc
MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
"""In the shipped business hours (Mon-Fri 09:00-17:00 London)."""
SUNDAY_NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
"""Closed all day in the shipped business hours."""


def shipped(name: str) -> dict[str, Any]:
    """A policy file of settings/ as data."""
    return yaml.safe_load((ROOT / "settings" / name).read_text(encoding="utf-8"))


def changed_file(tmp_path: Path, name: str, change: Callable[[dict[str, Any]], object]) -> Path:
    """A copy of the shipped settings file ``name`` in ``tmp_path`` with ``change`` made to its data."""
    data = shipped(name)
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def make_policy(**overrides: Any) -> HandoffPolicy:
    """The shipped settings/handoff.yml with top-level ``overrides`` applied."""
    return HandoffPolicy.parse_obj({**shipped("handoff.yml"), **overrides})


@pytest.fixture(scope="session")
def policy() -> HandoffPolicy:
    return make_policy()


@pytest.fixture(scope="session")
def hours() -> CallbackPolicy:
    """The shipped business hours (settings/callbacks.yml), which the agents keep."""
    return CallbackPolicy.parse_obj(shipped("callbacks.yml"))


@pytest.fixture(scope="session")
def sla() -> SlaConfig:
    return load_domain_config(ROOT / "settings").sla


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated SQLite or PostgreSQL store."""
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def handoff_store(engine: Engine) -> HandoffStore:
    return HandoffStore(make_sessionmaker(engine))


@pytest.fixture
def tickets(engine: Engine) -> TicketStore:
    return TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05)


def file_ticket(tickets: TicketStore, sla: SlaConfig, opened: datetime, **overrides: Any) -> TicketRecord:
    """A filed ticket (a P3 delivery complaint unless ``overrides`` say otherwise)."""
    return tickets.create(make_draft(opened, sla, **overrides), opened)


@dataclass
class Listener:
    """Messages received on Redis pub/sub channels, decoded from JSON."""

    pubsub: Any

    async def next(self, timeout: float = 5.0) -> tuple[str, dict[str, Any]]:
        """The next message published (its channel and its notice), or a failure after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                return message["channel"].decode(), json.loads(message["data"])
        raise AssertionError(f"nothing published within {timeout} s")

    async def nothing_more(self, wait: float = 0.5) -> bool:
        """Whether no further message arrives within ``wait`` seconds."""
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
        return message is None


def redis_client() -> aioredis.Redis:
    return aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    """Subscribed to every hand-off channel of the test Redis."""
    client = redis_client()
    pubsub = client.pubsub()
    await pubsub.psubscribe("handoff:*")
    await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
    yield Listener(pubsub)
    await pubsub.close()
    await client.close(close_connection_pool=True)
