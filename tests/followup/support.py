"""Shared pieces of the follow-up tests: a clock the test drives, tickets resolved through
the real store, the real Redis (``REDIS_HOST``/``REDIS_PORT``, database 7) and a real arq
worker run in burst mode with a recording transport."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import redis.asyncio as aioredis
from arq.constants import default_queue_name as QUEUE
from arq.worker import Worker

from bot.db import make_engine, make_sessionmaker
from bot.followup.policy import FollowupPolicy, QuietHours
from bot.followup.store import FollowupStore
from bot.outbound.settings import OutboundSettings
from bot.tickets import TicketDraft, TicketRecord, TicketStore
from tests.outbound.support import quick_settings
from worker.main import worker_settings

REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
REDIS_DB = 7
CLOSED_PORT = 16302
RASA_TOKEN = "test-rasa-token-0123456789"
START = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)  # 11:00 in London: not quiet
POLICY = FollowupPolicy(
    after=timedelta(hours=72),
    default_time_zone="Europe/London",
    quiet_hours=QuietHours(start="21:00", end="09:00"),
    reminder_after=timedelta(hours=24),
    unanswered_after=timedelta(hours=24),
)


class Clock:
    """The time the code under test sees; tests move it. Frozen unless told to tick with real time."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._ticking_since: float | None = None

    @property
    def now(self) -> datetime:
        if self._ticking_since is None:
            return self._now
        return self._now + timedelta(seconds=time.monotonic() - self._ticking_since)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self.now

    def tick(self) -> None:
        """From now on, move with real time as well (for a job arq defers in real seconds)."""
        self._ticking_since = time.monotonic()


async def time_passes(clock: Clock, redis: aioredis.Redis, **delta: float) -> datetime:
    """Move the clock, and the queue's deferred jobs with it, as if that much real time had passed."""
    shift_ms = timedelta(**delta).total_seconds() * 1000
    queued = await redis.zrange(QUEUE, 0, -1, withscores=True)
    if queued:
        await redis.zadd(QUEUE, {job: score - shift_ms for job, score in queued})
    return clock.advance(**delta)


def outbound_settings(**overrides: Any) -> OutboundSettings:
    """Quicker retries, two attempts, Rasa on a closed port (transcript entries give up quickly)."""
    return quick_settings(**{
        "redis_db": REDIS_DB, "max_attempts": 2, "retry_base_s": 0.02, "retry_max_s": 0.05, "sweep_batch": 1000,
        "rasa_urls": (f"http://127.0.0.1:{CLOSED_PORT}",), **overrides,
    })


def ticket_store(url: str) -> TicketStore:
    return TicketStore(make_sessionmaker(make_engine(url)), attempts=3, delay_s=0.05, followups=POLICY)


def followup_store(url: str) -> FollowupStore:
    return FollowupStore(make_sessionmaker(make_engine(url)))


def file_ticket(store: TicketStore, now: datetime, sender_id: str = "web:session-a", channel: str = "webchat") -> TicketRecord:
    """A new ticket, as the intake files it."""
    draft = TicketDraft(
        channel=channel, sender_id=sender_id, narrative="The kettle leaks.", category="product",
        severity="medium", priority="P3", sla_classify_by=now + timedelta(hours=2),
        sla_analyse_by=now + timedelta(hours=6), sla_resolve_by=now + timedelta(hours=16),
        sla_close_by=now + timedelta(hours=24),
    )
    return store.create(draft, now)


def resolve(store: TicketStore, number: str, now: datetime) -> TicketRecord:
    """new → acknowledged → in_progress → resolved, all at ``now``."""
    for state in ("acknowledged", "in_progress", "resolved"):
        record = store.transition(number, state, actor="agent:Priya", now=now)
    return record


async def run_worker(
    url: str, clock: Clock, until: Callable[[], bool], *, settings: OutboundSettings | None = None, timeout_s: float = 30
) -> Worker:
    """The real arq worker (no transport modules: the test registered its own) until ``until()`` holds
    with no job running. Not burst mode: the next step's deferred job stays queued for days."""
    kwargs = worker_settings(settings or outbound_settings(), database_url=url, rasa_token=RASA_TOKEN, transport_modules=())
    kwargs["ctx"]["followup_clock"] = clock
    worker = Worker(**kwargs, poll_delay=0.01, handle_signals=False)
    task = asyncio.create_task(worker.main())
    deadline = time.monotonic() + timeout_s
    try:
        idle_polls = 0
        while idle_polls < 5:
            if task.done():
                task.result()
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not reach the expected state within {timeout_s} s")
            await asyncio.sleep(0.05)
            running = any(not t.done() for t in worker.tasks.values())
            idle_polls = idle_polls + 1 if not running and await asyncio.to_thread(until) else 0
    finally:
        task.cancel()
        # asyncio.wait, not await: a cancellation that lands inside a Redis command can be
        # swallowed, and awaiting the task would then wait for ever.
        await asyncio.wait({task}, timeout=5)
        await asyncio.wait_for(worker.close(), timeout=15)
    return worker


@dataclass
class Case:
    """One test's stores and clock."""

    url: str
    tickets: TicketStore
    followups: FollowupStore
    clock: Clock
