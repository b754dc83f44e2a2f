"""Shared fixtures: the real SQLite, PostgreSQL and Redis the product runs on.

Nothing is faked. PostgreSQL (``TEST_POSTGRES_URL``, default the local ``test``
database) and Redis (``TEST_REDIS_URL``, default database 15) must be running; if
they are not, the tests that need them fail and say so instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.db import make_engine, make_sessionmaker, migrate
from bot.tickets import TicketStore

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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
def redis_url() -> Iterator[str]:
    """A Redis database emptied before and after the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.flushdb()
    except redis.RedisError as error:
        client.close()
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({error}). Start it or set TEST_REDIS_URL.", pytrace=False)
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()
