"""A real stack for end-to-end tests: the trained model, the action server and two Rasa
servers under supervisor (as ``make run``) sharing the real Redis, filing into a fresh
SQLite file, with tokens of its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.db import make_engine, make_sessionmaker, migrate
from bot.tickets import TicketStore
from scripts.stack import Stack, stack_environment
from scripts.train_model import model_path
from tests.round_the_clock import round_the_clock_settings

#: Two runs on one machine stay apart with ``E2E_PORT_OFFSET`` (added to 15005/15055) and
#: ``E2E_REDIS_DBS`` ("tracker,lock"); both default to what a single run needs.
#: ``E2E_MODEL`` tests another trained model than the one for the current inputs.
E2E_PORT_OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))
E2E_REDIS_DBS = tuple(db.strip() for db in os.environ.get("E2E_REDIS_DBS", "13,14").split(","))


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite file, migrated as ``make setup`` migrates the real one."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'tickets.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return url


def _flush_redis(env: dict[str, str]) -> None:
    for db in E2E_REDIS_DBS:
        redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]), db=int(db)).flushdb()


@pytest.fixture(scope="session")
def stack(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run 'make setup' first"
    env = stack_environment(
        {
            "RASA_PORT": str(15005 + E2E_PORT_OFFSET),
            "RASA_PROCESSES": "2",
            "ACTION_PORT": str(15055 + E2E_PORT_OFFSET),
            "REDIS_TRACKER_DB": E2E_REDIS_DBS[0],
            "REDIS_LOCK_DB": E2E_REDIS_DBS[1],
            "WORKER_REDIS_DB": E2E_REDIS_DBS[1],
            "WEBCHAT_REDIS_DB": E2E_REDIS_DBS[1],
            "WEB_PORT": str(15080 + E2E_PORT_OFFSET),
            "DATABASE_URL": e2e_database_url,
            "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
            "RASA_AUTH_TOKEN": secrets.token_urlsafe(24),
            "ACTION_TOKEN": secrets.token_urlsafe(24),
            "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(tmp_path_factory.mktemp("settings"))),
        }
    )
    _flush_redis(env)
    running = Stack(env=env, log_dir=Path(tmp_path_factory.mktemp("logs")))
    try:
        running.start(model)
        yield running
    finally:
        running.stop()
        _flush_redis(env)


@pytest.fixture(scope="session")
def e2e_store(stack: Stack, e2e_database_url: str) -> TicketStore:
    return TicketStore(make_sessionmaker(make_engine(e2e_database_url)), attempts=1, delay_s=0.0)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the scripted customers' figures (median turns to a ticket) after the run."""
    from tests.e2e.test_scripted_customers import SUMMARY

    for line in SUMMARY:
        terminalreporter.write_line(line)

