"""Schema migrations: run programmatically, idempotent, safe when processes start together."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect, text

import bot.callbacks.store  # noqa: F401  (declares the callbacks table)
import bot.evidence  # noqa: F401  (declares the evidence table)
import bot.followup.store  # noqa: F401  (declares followups and survey_answers)
import bot.handoff.store  # noqa: F401  (declares handoffs)
import bot.outbound.store  # noqa: F401  (declares outbound_messages)
import bot.sla.models  # noqa: F401  (declares sla_checks)
import web.console.models  # noqa: F401  (declares console_accounts)
from bot import db as db_module
from bot.db import make_engine, make_sessionmaker, migrate, write_session
from bot.models import metadata

HEAD = "0011_followup_batches"


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _head(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_migrate_creates_the_tables_and_the_version_table(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    indexes = {index["name"] for index in inspect(engine).get_indexes("tickets")}
    engine.dispose()
    assert {
        "alembic_version", "tickets", "ticket_events", "outbound_messages", "evidence", "followups", "survey_answers",
        "callbacks", "sla_checks", "console_accounts", "handoffs",
    } <= tables
    assert {
        "ix_tickets_status",
        "ix_tickets_category",
        "ix_tickets_created_at",
        "ix_tickets_channel_sender_id",
    } <= indexes
    assert _head(db_url) == HEAD


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: statements.append(sql))
    migrate(engine)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert versions == [HEAD]
    writes = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE")
    changes = [sql for sql in statements if sql.lstrip().upper().startswith(writes)]
    assert changes == []


def test_models_match_the_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def test_processes_starting_together_all_migrate(db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_migrate, [db_url] * 4)
    assert _head(db_url) == HEAD


def test_a_sqlite_store_creates_its_folder_and_lets_processes_share_it(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        busy_ms = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    engine.dispose()
    assert journal == "wal"
    assert busy_ms >= 5000
    assert foreign_keys == 1


def test_a_sqlite_writer_waits_for_another_thread_of_its_process_without_sqlites_busy_handler(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_S", 0.05)
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE writes (writer TEXT)"))
    sessions = make_sessionmaker(engine)
    holding = threading.Event()
    order: list[str] = []

    def first() -> None:
        with write_session(sessions) as session:
            session.execute(text("INSERT INTO writes VALUES ('first')"))
            holding.set()
            time.sleep(0.5)
            order.append("first committed")

    def second() -> None:
        holding.wait()
        with write_session(sessions) as session:
            order.append("second began")
            session.execute(text("INSERT INTO writes VALUES ('second')"))

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result()
    with sessions() as session:
        written = session.execute(text("SELECT writer FROM writes ORDER BY rowid")).scalars().all()
    engine.dispose()
    assert order == ["first committed", "second began"]
    assert written == ["first", "second"]


def test_sqlite_sessions_reuse_their_connection(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, record: opened.append(connection))
    sessions = make_sessionmaker(engine)
    for _ in range(5):
        with write_session(sessions) as session:
            session.execute(text("SELECT 1"))
        with sessions() as session:
            session.execute(text("SELECT 1"))
    engine.dispose()
    assert len(opened) == 1
