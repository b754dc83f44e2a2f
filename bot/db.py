"""Engines, sessions and schema migration for the ticket store.

Everything is built by a factory call and nothing connects at import time, because
rasa-sdk imports every action module at start-up and the store may be down then.

SQLite is the zero-set-up default. Several processes (action server, web services,
worker) write to the same file, so it runs in WAL mode with a busy timeout, and a
write transaction takes the write lock when it begins (``BEGIN IMMEDIATE``): a
deferred transaction that read first could only fail, not wait, when it tried to
write. Within one process, writers queue on a lock of the engine's before they ask
SQLite: SQLite's busy handler polls with sleeps that grow to 100 ms, which under load
cost a filing more time than the write itself (76 ms a ticket at 50 concurrent
conversations); the lock hands over at once. Connections to a database file are
pooled, so a session does not open the file and set its pragmas again.
PostgreSQL is used whenever ``DATABASE_URL`` names it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 10.0
POSTGRES_CONNECT_TIMEOUT_S = 5
MIGRATION_LOCK_KEY = 0x43585449434B  # "CXTICK": one id shared by every process that migrates
_WRITE_OPTION = "bot_write_transaction"
SQLITE_POOL_SIZE = 4
SQLITE_POOL_OVERFLOW = 12
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def make_engine(url: str) -> Engine:
    """An engine for ``url``, tuned so several processes can share the store safely.

    Statement parameters are customers' words, so they are kept out of SQLAlchemy's
    log lines and error messages (``hide_parameters``); a logged traceback then
    carries no personal data.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_file = bool(parsed.database) and parsed.database != ":memory:"
        pooling: dict[str, Any] = {}
        if on_file:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            pooling = {"poolclass": QueuePool, "pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_OVERFLOW}
        engine = create_engine(
            parsed,
            future=True,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            **pooling,
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        _SQLITE_WRITERS[engine] = threading.RLock()
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return create_engine(
        parsed, future=True, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args
    )


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions in 2.0 style; objects stay readable after commit so records can be built from them."""
    return sessionmaker(engine, future=True, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker) -> Iterator[Session]:
    """A session whose transaction commits on success and holds the write lock from its start.

    On SQLite the lock is taken by ``BEGIN IMMEDIATE`` (waiting up to the busy timeout),
    so a read-then-write such as a status change cannot be interleaved; on PostgreSQL
    callers lock the rows they change with ``SELECT ... FOR UPDATE``.
    """
    with ExitStack() as stack:
        writers = _SQLITE_WRITERS.get(factory.kw.get("bind"))
        if writers is not None:
            stack.enter_context(writers)
        session = stack.enter_context(factory.begin())
        session.connection(execution_options={_WRITE_OPTION: True})
        yield session


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision; a no-op when it is already there.

    Every process calls this on start-up, possibly at the same moment, so the whole
    upgrade runs in one transaction behind a lock: a PostgreSQL advisory lock, or the
    SQLite write lock. The second process waits, then finds nothing to do.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    logger.info("ticket store schema is up to date", extra={"dialect": engine.dialect.name})


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets readers run while one process writes; the busy timeout makes writers queue, not fail.

    The driver's own transaction handling is switched off so that SQLAlchemy's
    ``begin`` event decides how each transaction starts.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    """Writers take the write lock up front; readers start an ordinary snapshot."""
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def main() -> int:
    """Migrate the configured database (``python -m bot.db``), as set-up does."""
    from bot.settings import load_settings

    engine = make_engine(load_settings().database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    print(f"database migrated: {engine.url.render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
