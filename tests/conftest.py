"""Shared fixtures: the real SQLite and PostgreSQL the ticket store runs on, and the real Redis.

Nothing is faked. PostgreSQL (``TEST_POSTGRES_URL``, default the local ``test``
database) must be running; if it is not, the tests that need it fail and say so
instead of skipping. Redis is ``REDIS_HOST``/``REDIS_PORT``; a suite that uses
:func:`redis_client` names its own database with a ``redis_db`` fixture in its conftest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.db import make_engine, make_sessionmaker, migrate
from bot.tickets import TicketStore

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of its own in a folder that does not exist yet (the engine must create it)."""
    return f"sqlite:///{tmp_path / 'var' / 'complaints.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The test database, seen through a fresh schema that is dropped afterwards.

    The schema is selected with ``search_path`` in the URL, so every engine and
    subprocess given this URL sees only this test's tables.
    """
    admin = create_engine(POSTGRES_URL, future=True, connect_args={"connect_timeout": 3})
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except DBAPIError as error:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string(hide_password=True)} is not reachable "
            f"({type(error).__name__}: {error}). Start it (trust auth, user postgres, database test) "
            "or set TEST_POSTGRES_URL.",
            pytrace=False,
        )
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite_url", "postgres_url"], ids=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each database test runs on both stores the product supports."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def store(db_url: str) -> Iterator[TicketStore]:
    """A migrated, empty ticket store with quick retries."""
    engine = make_engine(db_url)
    migrate(engine)
    yield TicketStore(make_sessionmaker(engine), attempts=3, delay_s=0.05)
    engine.dispose()


@pytest.fixture
async def redis_client(redis_db: int) -> AsyncIterator[aioredis.Redis]:
    """The real Redis, the suite's database (its ``redis_db`` fixture), empty before and after each test."""
    client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=redis_db)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.close(close_connection_pool=True)
