"""Real processes for the web chat tests: web app instances (``python -m web``) on loopback,
the real Redis, a migrated SQLite file, and (for complaints) a stack of its own.

The web tests' stack has its own ports and Redis database, so it can run in the same
pytest session as tests/e2e's stack:

| variable | default | meaning |
|---|---|---|
| E2E_PORT_OFFSET | 0 | as tests/e2e: ports are 15000 + offset + 35/36 (Rasa), +85 (actions), +90..+99 (web apps) |
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis every process of these tests uses |
| WEB_TEST_REDIS_DB | 15 | one Redis database for the web chat and this stack's trackers and locks (distinct key prefixes) |
| E2E_MODEL | the current model | as tests/e2e |
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from bot.db import make_engine, make_sessionmaker
from bot.evidence import Evidence, EvidenceStore, FileSystemStorage
from bot.tickets import TicketStore
from scripts.stack import ROOT, Stack, answers_200, stack_environment
from scripts.train_model import model_path
from tests.e2e.conftest import e2e_database_url  # noqa: F401 (a fixture: a fresh migrated SQLite file)
from tests.round_the_clock import round_the_clock_settings

PORT_BASE = 15000 + int(os.environ.get("E2E_PORT_OFFSET", "0"))
RASA_PORT = PORT_BASE + 35
ACTION_PORT = PORT_BASE + 85
WEB_PORTS = tuple(range(PORT_BASE + 90, PORT_BASE + 100))
REDIS_DB = int(os.environ.get("WEB_TEST_REDIS_DB", "15"))
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
UNUSED_RASA_PORT = PORT_BASE + 89
"""Nothing listens here: a web app pointed at it meets a Rasa that is down."""
ARTIFACTS = ROOT / "var" / "artifacts"


def web_redis() -> redis.Redis:
    """A client for the web tests' Redis database."""
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def flush() -> None:
    web_redis().flushdb()


@pytest.fixture(scope="session")
def web_database_url(e2e_database_url: str) -> str:
    """A fresh migrated SQLite file, made as tests/e2e makes its own."""
    return e2e_database_url


@pytest.fixture(scope="session")
def rest_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files")


@dataclass
class WebApp:
    """One ``python -m web`` process."""

    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_web(port: int, env: dict[str, str], log_dir: Path) -> WebApp:
    """Start the web app and wait until it answers /healthz (a failure names its log)."""
    log = log_dir / f"web-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "web"], cwd=ROOT, env=env | {"WEB_PORT": str(port)},
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not answers_200(f"http://127.0.0.1:{port}/healthz"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"web app on {port} did not start; see {log}")
        time.sleep(0.1)
    return WebApp(port, process)


def web_env(database_url: str, evidence_dir: Path, rasa_port: int, token: str, **extra: str) -> dict[str, str]:
    return dict(os.environ) | {
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "EVIDENCE_DIR": str(evidence_dir),
        "EVIDENCE_MAX_BYTES": str(1024 * 1024),
        "WEBCHAT_REDIS_DB": str(REDIS_DB),
        "RASA_PORT": str(rasa_port),
        "RASA_PROCESSES": "2",
        "REST_CHANNEL_TOKEN": token,
        "WEBCHAT_RATE_LIMIT": "20",
        "WEBCHAT_RATE_WINDOW_S": "10",
    } | extra


@pytest.fixture(scope="session")
def offline_web(web_database_url: str, evidence_dir: Path, rest_token: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    """A web app whose Rasa is down: for everything that is the web app's own business."""
    flush()
    env = web_env(web_database_url, evidence_dir, UNUSED_RASA_PORT, rest_token, RASA_PROCESSES="1")
    app = start_web(WEB_PORTS[0], env, tmp_path_factory.mktemp("weblogs"))
    yield app
    app.stop()
    flush()


@pytest.fixture(scope="session")
def web_stack(web_database_url: str, rest_token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The action server and two Rasa servers, as tests/e2e runs them, on the web tests' ports."""
    model = Path(os.environ["E2E_MODEL"]) if os.environ.get("E2E_MODEL") else model_path()
    assert model.exists(), f"no trained model at {model}: run 'make setup' first"
    env = stack_environment({
        "RASA_PORT": str(RASA_PORT), "RASA_PROCESSES": "2", "ACTION_PORT": str(ACTION_PORT),
        "REDIS_TRACKER_DB": str(REDIS_DB), "REDIS_LOCK_DB": str(REDIS_DB),
        "DATABASE_URL": web_database_url,
        "COMPLAINTS_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
        "RASA_AUTH_TOKEN": secrets.token_urlsafe(24), "ACTION_TOKEN": secrets.token_urlsafe(24),
        "REST_CHANNEL_TOKEN": rest_token,
        "COMPLAINTS_CONFIG_DIR": str(round_the_clock_settings(tmp_path_factory.mktemp("settings"))),
    })
    flush()
    running = Stack(env=env, log_dir=Path(tmp_path_factory.mktemp("stacklogs")))
    try:
        running.start(model)
        yield running
    finally:
        running.stop()
        flush()


@pytest.fixture(scope="session")
def live_web(web_stack: Stack, web_database_url: str, evidence_dir: Path, rest_token: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WebApp]]:
    """Two web apps in front of the stack (a conversation may be served by either)."""
    env = web_env(web_database_url, evidence_dir, RASA_PORT, rest_token, WEBCHAT_RATE_LIMIT="60")
    log_dir = tmp_path_factory.mktemp("livelogs")
    apps = [start_web(port, env, log_dir) for port in WEB_PORTS[1:3]]
    yield apps
    for app in apps:
        app.stop()


@pytest.fixture(scope="session")
def web_store(web_stack: Stack, web_database_url: str) -> TicketStore:
    return TicketStore(make_sessionmaker(make_engine(web_database_url)), attempts=1, delay_s=0.0)


def session_id_of(cookie_value: str) -> str:
    """The conversation id the server keeps for a session cookie (the client never sees it)."""
    raw = web_redis().get(f"webchat_session_{cookie_value}")
    assert raw is not None, "no such session in Redis"
    return json.loads(raw)["session"]["session_id"]


def kept_evidence(database_url: str, evidence_dir: Path, sender_id: str) -> list[tuple[Evidence, bytes]]:
    """What the evidence store holds for a conversation, with each file's bytes."""
    engine = make_engine(database_url)
    store = EvidenceStore(make_sessionmaker(engine), FileSystemStorage(evidence_dir))
    try:
        return [(evidence, store.open(evidence.id)) for evidence in store.for_sender(sender_id)]
    finally:
        engine.dispose()
