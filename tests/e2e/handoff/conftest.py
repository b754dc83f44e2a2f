"""The whole stack for the hand-off end-to-end tests, as ``make run`` runs it, on its own ports.

Under supervisor, from :class:`scripts.stack.Stack`: the action server, two Rasa servers with
this checkout's trained model, the web app (web chat and agent console) and the worker, on the
real Redis, with the Telegram channel pointed at the local Bot API stand-in. The ticket
database is a fresh SQLite file or a fresh PostgreSQL schema: every test here runs on both.
The business is open round the clock (``tests/round_the_clock.py``), so a person is "online"
whatever the hour. The console accounts are made with the real command
(``python -m web.console.accounts create``, password on standard input).

| variable | default | meaning |
|---|---|---|
| E2E_PORT_OFFSET | 0 | ports 15000 + offset + 40/41 (Rasa), +45 (actions), +46 (web), +47 (Telegram stand-in) |
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis every process uses |
| HANDOFF_E2E_REDIS_DBS | 9,10,12 | Redis databases: trackers, locks, and the web chat / job queue / Telegram keys (flushed) |
| TEST_POSTGRES_URL | the local ``test`` database | as tests/conftest.py |
| E2E_MODEL | the current model | as tests/e2e |

Screenshots go to var/artifacts/handoff/ (var/ is not committed).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.db import make_engine, make_sessionmaker, migrate
from bot.handoff.store import HandoffStore
from bot.outbound.store import OutboundStore
from bot.tickets import TicketStore
from scripts.stack import ROOT, Stack, stack_environment
from scripts.telegram_standin import RunningStandin
from scripts.train_model import model_path
from tests.conftest import POSTGRES_URL
from tests.round_the_clock import round_the_clock_settings

PORT_BASE = 15000 + int(os.environ.get("E2E_PORT_OFFSET", "0"))
RASA_PORT, ACTION_PORT, WEB_PORT, STANDIN_PORT = PORT_BASE + 40, PORT_BASE + 45, PORT_BASE + 46, PORT_BASE + 47
TRACKER_DB, LOCK_DB, APP_DB = (db.strip() for db in os.environ.get("HANDOFF_E2E_REDIS_DBS", "9,10,12").split(","))
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
PASSWORD = "correct horse battery staple"
ARTIFACTS = ROOT / "var" / "artifacts" / "handoff"


@dataclass(frozen=True)
class Person:
    name: str
    display_name: str
    role: str = "agent"


AGENT = Person("alex", "Alex Agent")
SECOND_AGENT = Person("priya", "Priya Patel")


@dataclass
class HandoffStack:
    """The running stack and what the tests read back: the stores on its database, the stand-in."""

    stack: Stack
    standin: RunningStandin
    database_url: str
    tickets: TicketStore
    handoffs: HandoffStore
    outbound: OutboundStore

    @property
    def web_url(self) -> str:
        return self.stack.web_url

    def rasa_api(self, base: str, path: str) -> str:
        """The URL of a Rasa HTTP API path on the server at ``base``, with the API's token."""
        return f"{base}{path}?{urllib.parse.urlencode({'token': self.stack.api_token})}"


def _flush() -> None:
    for db in (TRACKER_DB, LOCK_DB, APP_DB):
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=int(db)).flushdb()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def handoff_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated ticket database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('handoff-db') / 'tickets.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    admin = create_engine(POSTGRES_URL, future=True, connect_args={"connect_timeout": 3})
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def create_account(env: dict[str, str], person: Person) -> None:
    """The README's command, the password on standard input (never an argument)."""
    result = subprocess.run(
        [sys.executable, "-m", "web.console.accounts", "create", "--role", person.role, "--name", person.name,
         "--display-name", person.display_name],
        input=PASSWORD + "\n", text=True, capture_output=True, cwd=ROOT, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def handoff_stack(handoff_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HandoffStack]:
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run 'make setup' first"
    standin = RunningStandin(STANDIN_PORT, f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}").start()
    env = stack_environment({
        "RASA_PORT": str(RASA_PORT), "RASA_PROCESSES": "2", "ACTION_PORT": str(ACTION_PORT), "WEB_PORT": str(WEB_PORT),
        "REDIS_HOST": REDIS_HOST, "REDIS_PORT": str(REDIS_PORT),
        "REDIS_TRACKER_DB": TRACKER_DB, "REDIS_LOCK_DB": LOCK_DB,
        "WORKER_REDIS_DB": APP_DB, "WEBCHAT_REDIS_DB": APP_DB, "TELEGRAM_REDIS_DB": APP_DB,
        "DATABASE_URL": handoff_database_url,
        "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
        "EVIDENCE_DIR": str(tmp_path_factory.mktemp("files")),
        "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(tmp_path_factory.mktemp("settings"))),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTION_TOKEN": secrets.token_urlsafe(24),
        "REST_CHANNEL_TOKEN": secrets.token_urlsafe(24), "TICKET_API_TOKEN": secrets.token_urlsafe(24),
        "TELEGRAM_TOKEN": standin.state.token, "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "TELEGRAM_API_BASE_URL": standin.base_url,
        "TELEGRAM_TYPING_AFTER_S": "60",  # no "typing…" calls in the stand-in's record of this chat
    })
    standin.state.webhook_secret = env["TELEGRAM_WEBHOOK_SECRET"]
    for person in (AGENT, SECOND_AGENT):
        create_account(env, person)
    _flush()
    running = Stack(env=env, log_dir=Path(tmp_path_factory.mktemp("handoff-logs")), with_web=True, with_worker=True)
    engine = make_engine(handoff_database_url)
    sessions = make_sessionmaker(engine)
    try:
        running.start(model)
        yield HandoffStack(running, standin, handoff_database_url, TicketStore(sessions, attempts=2, delay_s=0.05),
                           HandoffStore(sessions), OutboundStore(sessions))
    finally:
        running.stop()
        standin.stop()
        engine.dispose()
        _flush()
