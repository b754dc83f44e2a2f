"""Fixtures for the SLA watcher's tests: the real SQLite and PostgreSQL stores (``db_url``), a
clock the test drives, the real Redis and a real arq worker.

| variable | default | meaning |
|---|---|---|
| REDIS_HOST / REDIS_PORT | 127.0.0.1 / 6379 | the Redis the worker tests use |
| SLA_TEST_REDIS_DB | 7 | its database (flushed before and after each test) |
| E2E_PORT_OFFSET | 0 | the Rasa stand-in (``rasa``, tests/outbound/support.py) listens on 16101 + offset |
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.worker import Worker
from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_sessionmaker, migrate
from bot.domain_config import SlaConfig, load_domain_config
from bot.outbound.delivery import Outbound
from bot.outbound.settings import OutboundSettings
from bot.settings import PROJECT_ROOT
from bot.sla.notices import StatusNotices, load_notice_texts
from bot.sla.settings import SlaWatchSettings
from bot.sla.watch import SlaWatch
from bot.tickets import TicketDraft, TicketStore
from bot.triage import sla_deadlines
from tests.outbound.support import rasa, settings, transports
from worker.main import worker_settings

REDIS_DB = int(os.environ.get("SLA_TEST_REDIS_DB", "7"))
RASA_TOKEN = "sla-test-rasa-token-0123456789"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@dataclass
class DrivenClock:
    """The time the code under test reads; only the test moves it."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def sla_config() -> SlaConfig:
    return load_domain_config(PROJECT_ROOT / "settings").sla


def make_draft(opened: datetime, sla: SlaConfig, **overrides: Any) -> TicketDraft:
    """A P3 delivery complaint opened at ``opened`` with the SLA's own deadlines."""
    deadlines = sla_deadlines(overrides.get("priority", "P3"), opened, sla)
    values: dict[str, Any] = dict(
        channel="webchat",
        sender_id="web:session-sla-1",
        narrative="My parcel never arrived.",
        category="delivery",
        severity="medium",
        priority="P3",
        sla_classify_by=deadlines.classify_by,
        sla_analyse_by=deadlines.analyse_by,
        sla_resolve_by=deadlines.resolve_by,
        sla_close_by=deadlines.close_by,
    )
    values.update(overrides)
    return TicketDraft(**values)


@dataclass
class SlaWorld:
    """A migrated store with the watcher and the ticket store on it."""

    url: str
    sessions: sessionmaker
    tickets: TicketStore
    watch: SlaWatch
    sla: SlaConfig
    clock: DrivenClock = field(default_factory=DrivenClock)

    def file(self, opened: datetime = T0, **overrides: Any) -> str:
        return self.tickets.create(make_draft(opened, self.sla, **overrides), opened).number


@pytest.fixture
def world(db_url: str, sla_config: SlaConfig) -> Iterator[SlaWorld]:
    engine = make_engine(db_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    tickets = TicketStore(sessions, attempts=3, delay_s=0.05, sla=sla_config)
    yield SlaWorld(db_url, sessions, tickets, SlaWatch(sessions, tickets, sla_config, batch=100), sla_config)
    engine.dispose()


@pytest.fixture
def redis_db() -> int:
    """This suite's database on the test Redis (``redis_client``: tests/conftest.py)."""
    return REDIS_DB


@pytest.fixture
async def outbound(settings: OutboundSettings, world: SlaWorld, redis_client: aioredis.Redis) -> AsyncIterator[Outbound]:
    opened = await Outbound.open(settings, world.url)
    yield opened
    await opened.close()


@pytest.fixture
def notices(world: SlaWorld) -> StatusNotices:
    return StatusNotices(world.sessions, load_notice_texts(), window=timedelta(hours=1))


__all__ = ["rasa", "settings", "transports"]

RunWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
def run_worker(settings: OutboundSettings, world: SlaWorld, monkeypatch: pytest.MonkeyPatch) -> RunWorker:
    """Run the real arq worker (settings as the product builds them) until its queue is empty."""
    monkeypatch.setenv("COMPLAINTS_CONFIG_DIR", str(Path(PROJECT_ROOT / "settings")))

    async def run(clock: Callable[[], datetime] | None = None, until: datetime | None = None, timeout: float = 30) -> Worker:
        """Run until idle, and not before ``until`` (real time) if given."""
        kwargs = worker_settings(
            settings, database_url=world.url, rasa_token=RASA_TOKEN, transport_modules=(),
            sla_settings=SlaWatchSettings(sweep_batch=100), clock=clock,
        )
        worker = Worker(**kwargs, burst=False, poll_delay=0.01, handle_signals=False)
        running = asyncio.create_task(worker.main())
        try:
            if until is not None:
                await asyncio.sleep(max((until - datetime.now(timezone.utc)).total_seconds(), 0))
            await asyncio.wait_for(until_idle(worker, running), timeout=timeout)
        finally:
            running.cancel()
            # asyncio.wait, not await: a cancellation that lands inside a Redis command can be
            # swallowed, and awaiting the task would then wait for ever.
            await asyncio.wait({running}, timeout=5)
            await asyncio.wait_for(worker.close(), timeout=15)
        return worker

    return run


IDLE_POLLS = 10


async def until_idle(worker: Worker, running: asyncio.Task) -> None:
    """Wait until the worker has run its start-up sweeps and nothing is due or running.

    Burst mode would wait for jobs deferred hours ahead (the SLA checks of a ticket filed
    now), which the tests do not want to run, and can stop before the start-up sweeps are queued.
    """
    idle, started = 0, time.monotonic()
    while idle < IDLE_POLLS and not running.done():
        await asyncio.sleep(0.05)
        if worker._pool is None or time.monotonic() - started < STARTUP_S:
            continue
        due = await worker.pool.zcount(worker.queue_name, float("-inf"), time.time() * 1000)
        idle = idle + 1 if due == 0 and not worker.tasks else 0
    if running.done():
        running.result()


STARTUP_S = 1.0
"""Time for a worker's first poll to queue its start-up sweeps (outbound, SLA, status notices);
with several workers any of them may run them, so a worker's own job count cannot tell."""
