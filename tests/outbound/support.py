"""Fixtures shared by tests/outbound and tests/worker: the real Redis (``REDIS_HOST``/``REDIS_PORT``, DB 4), the real SQL
stores, a loopback stand-in for Rasa's tracker-events endpoint, a recording transport,
and a real arq worker run in burst mode.

Only the transport is ours to fake: the channels' transports are written elsewhere and
the real ones are exercised by their own tests.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from arq.worker import Worker

from bot.db import make_engine, migrate
from bot.outbound import registry
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Conversation, OutboundMessage
from bot.outbound.settings import OutboundSettings
from worker.main import worker_settings

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = 4
RASA_PORT = 16101 + int(os.environ.get("E2E_PORT_OFFSET", "0"))
CLOSED_PORT = RASA_PORT + 1
RASA_TOKEN = "test-rasa-token-0123456789"


@dataclass
class Send:
    conversation: Conversation
    message: OutboundMessage
    key: str
    at: float


@dataclass
class RecordingTransport:
    """A transport that records each send and fails as scripted (one outcome per call, then success)."""

    channel: str
    outcomes: list[BaseException | None] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)

    async def send(self, conversation: Conversation, message: OutboundMessage, key: str) -> None:
        self.sends.append(Send(conversation, message, key, time.monotonic()))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@dataclass
class RasaStandIn:
    """Records every POST to /conversations/{id}/tracker/events; answers with the scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(
            {
                "conversation_id": request.match_info["conversation_id"],
                "raw_path": request.raw_path.split("?")[0],
                "query": dict(request.query),
                "json": await request.json(),
            }
        )
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"events": []}, status=status)


@pytest.fixture
def transports(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, RecordingTransport]]:
    """A fresh registry with recording transports for web chat and Telegram."""
    monkeypatch.setattr(registry, "_transports", {})
    made = {channel: RecordingTransport(channel) for channel in ("webchat", "telegram")}
    for transport in made.values():
        registry.register_transport(transport)
    yield made


@pytest.fixture
def redis_db() -> int:
    """The database of tests/outbound and tests/worker on the test Redis (``redis_client``: tests/conftest.py)."""
    return REDIS_DB


@pytest.fixture
async def rasa() -> AsyncIterator[RasaStandIn]:
    """Rasa's tracker-events endpoint on loopback, recording what the worker appends."""
    stand_in = RasaStandIn()
    app = web.Application()
    app.router.add_post("/conversations/{conversation_id:.+}/tracker/events", stand_in.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", RASA_PORT, shutdown_timeout=1.0).start()
    yield stand_in
    await runner.cleanup()


def quick_settings(redis_db: int, **overrides: Any) -> OutboundSettings:
    """Quick retries, three attempts, the loopback Rasa stand-in (:func:`rasa`), on database ``redis_db``
    of the test Redis; ``overrides`` replace any of these."""
    settings = OutboundSettings(
        redis_host=REDIS_HOST,
        redis_port=REDIS_PORT,
        redis_db=redis_db,
        max_attempts=3,
        retry_base_s=0.05,
        retry_max_s=0.2,
        send_timeout_s=2.0,
        sweep_batch=100,
        rasa_urls=(f"http://127.0.0.1:{RASA_PORT}",),
    )
    return replace(settings, **overrides)


@pytest.fixture
def settings(redis_db: int) -> OutboundSettings:
    """:func:`quick_settings` on the suite's Redis database."""
    return quick_settings(redis_db)


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """The SQLite or PostgreSQL store of this test, migrated."""
    engine = make_engine(db_url)
    migrate(engine)
    engine.dispose()
    return db_url


@pytest.fixture
async def outbound(
    settings: OutboundSettings, migrated_url: str, redis_client: aioredis.Redis
) -> AsyncIterator[Outbound]:
    """The outbound path a caller process opens."""
    opened = await Outbound.open(settings, migrated_url)
    yield opened
    await opened.close()


RunWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
def run_worker(settings: OutboundSettings, migrated_url: str) -> RunWorker:
    """Run the real arq worker (our settings, no transport modules) until its queue is empty."""

    async def run(**overrides: Any) -> Worker:
        own = replace(settings, **overrides)
        return await run_burst(worker_settings(own, database_url=migrated_url, rasa_token=RASA_TOKEN, transport_modules=()))

    return run


async def run_burst(kwargs: dict[str, Any]) -> Worker:
    """A real arq worker with ``kwargs`` (``worker.main.worker_settings``), in burst mode: until its queue is empty."""
    worker = Worker(**kwargs, burst=True, poll_delay=0.01, handle_signals=False)
    try:
        await asyncio.wait_for(worker.main(), timeout=30)
    finally:
        await worker.close()
    return worker
