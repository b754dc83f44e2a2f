"""Fixtures of the follow-up tests: real SQLite and PostgreSQL, real Redis, a driven clock, and the
recording transports and the migrated store of tests/outbound (``transports``, ``migrated_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.db import make_engine, migrate
from bot.outbound.delivery import Outbound
from tests.followup.support import (
    REDIS_DB, START, Case, Clock, followup_store, outbound_settings, ticket_store,
)
from tests.outbound.support import migrated_url, transports


@pytest.fixture
def case(db_url: str) -> Case:
    """Migrated stores on this test's database and a clock at :data:`START`."""
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    return Case(db_url, ticket_store(db_url), followup_store(db_url), Clock(START))


@pytest.fixture
def redis_db() -> int:
    """This suite's database on the test Redis (``redis_client``: tests/conftest.py)."""
    return REDIS_DB


@pytest.fixture
async def outbound(case: Case, redis_client: aioredis.Redis) -> AsyncIterator[Outbound]:
    """The outbound path a caller process opens, on this test's store and queue."""
    opened = await Outbound.open(outbound_settings(), case.url)
    yield opened
    await opened.close()



__all__ = ["migrated_url", "transports"]
