"""A real stack with the Telegram channel on, and the local Bot API stand-in it talks to.

The stack is ``make run``'s (action server, two Rasa servers under supervisor, the trained
model, the real Redis, a fresh SQLite file); its Telegram channel points python-telegram-bot's
``base_url`` at :class:`scripts.telegram_standin.RunningStandin` on loopback, through the
``TELEGRAM_*`` variables that ``credentials.yml`` reads.

Ports: ``15025/15026`` (Rasa), ``15075`` (actions) and ``15070`` (stand-in), plus
``E2E_PORT_OFFSET``; Redis: ``E2E_REDIS_DBS`` for trackers and locks and
``TELEGRAM_E2E_REDIS_DB`` (default 2) for the channel's keys.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.db import make_engine, make_sessionmaker, migrate
from bot.outbound.telegram import TelegramSettings, load_telegram_settings
from bot.tickets import TicketStore
from scripts.stack import Stack, stack_environment
from scripts.telegram_standin import RunningStandin
from scripts.train_model import model_path
from tests.round_the_clock import round_the_clock_settings

E2E_PORT_OFFSET = int(os.environ.get("E2E_PORT_OFFSET", "0"))
E2E_REDIS_DBS = tuple(db.strip() for db in os.environ.get("E2E_REDIS_DBS", "13,14").split(","))
TELEGRAM_REDIS_DB = os.environ.get("TELEGRAM_E2E_REDIS_DB", "2")


@pytest.fixture(scope="session")
def standin() -> Iterator[RunningStandin]:
    running = RunningStandin(15070 + E2E_PORT_OFFSET, f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _flush(env: dict[str, str]) -> None:
    for db in (*E2E_REDIS_DBS, TELEGRAM_REDIS_DB):
        redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]), db=int(db)).flushdb()


@pytest.fixture(scope="session")
def telegram_env(standin: RunningStandin, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The stack's environment: our ports and databases, the stand-in as Telegram."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('telegram') / 'tickets.db'}"
    engine = make_engine(database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return stack_environment(
        {
            "RASA_PORT": str(15025 + E2E_PORT_OFFSET),
            "RASA_PROCESSES": "2",
            "ACTION_PORT": str(15075 + E2E_PORT_OFFSET),
            "REDIS_TRACKER_DB": E2E_REDIS_DBS[0],
            "REDIS_LOCK_DB": E2E_REDIS_DBS[1],
            "DATABASE_URL": database_url,
            "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
            "EVIDENCE_DIR": str(tmp_path_factory.mktemp("evidence")),
            "RASA_AUTH_TOKEN": secrets.token_urlsafe(24),
            "ACTION_TOKEN": secrets.token_urlsafe(24),
            "TELEGRAM_TOKEN": standin.state.token,
            "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "TELEGRAM_REDIS_DB": TELEGRAM_REDIS_DB,
            "TELEGRAM_TYPING_AFTER_S": "0",  # every message shows "typing…", so a test can see it
            "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(tmp_path_factory.mktemp("settings"))),
        }
    )


@pytest.fixture(scope="session")
def telegram_settings(telegram_env: dict[str, str]) -> TelegramSettings:
    return load_telegram_settings(telegram_env)


@pytest.fixture(scope="session")
def telegram_stack(
    telegram_env: dict[str, str], standin: RunningStandin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The stack, its Telegram channel pointed at the stand-in."""
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run 'make setup' first"
    _flush(telegram_env)
    standin.state.webhook_secret = telegram_env["TELEGRAM_WEBHOOK_SECRET"]
    running = Stack(env=telegram_env, log_dir=Path(tmp_path_factory.mktemp("logs")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", telegram_env["DATABASE_URL"])
        patch.setenv("EVIDENCE_DIR", telegram_env["EVIDENCE_DIR"])
        try:
            running.start(model)
            yield running
        finally:
            running.stop()
            _flush(telegram_env)


@pytest.fixture(scope="session")
def telegram_store(telegram_stack: Stack, telegram_env: dict[str, str]) -> TicketStore:
    return TicketStore(make_sessionmaker(make_engine(telegram_env["DATABASE_URL"])), attempts=1, delay_s=0.0)
