"""Shared pieces of the follow-up tests: a clock the test drives, tickets resolved through
the real store, the real Redis (``REDIS_HOST``/``REDIS_PORT``, database 7) and a real arq
worker run in burst mode with a recording transport."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from arq.worker import Worker

from bot.db import make_engine, make_sessionmaker
from bot.followup.policy import FollowupPolicy, QuietHours
from bot.followup.store import FollowupStore
from bot.outbound.settings import OutboundSettings
from bot.tickets import TicketDraft, TicketRecord, TicketStore
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
    """The time the code under test sees; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def outbound_settings(**overrides: Any) -> OutboundSettings:
    """Quick retries, Rasa on a closed port (transcript entries give up quickly)."""
    settings = OutboundSettings(
        redis_host=REDIS_HOST,
        redis_port=REDIS_PORT,
        redis_db=REDIS_DB,
        max_attempts=2,
        retry_base_s=0.02,
        retry_max_s=0.05,
        send_timeout_s=2.0,
        sweep_batch=1000,
        rasa_urls=(f"http://127.0.0.1:{CLOSED_PORT}",),
    )
    return replace(settings, **overrides)


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


async def run_worker(url: str, clock: Clock, *, settings: OutboundSettings | None = None, timeout_s: float = 30) -> Worker:
    """The real arq worker (no transport modules: the test registered its own) until its queue is empty."""
    kwargs = worker_settings(settings or outbound_settings(), database_url=url, rasa_token=RASA_TOKEN, transport_modules=())
    kwargs["ctx"]["followup_clock"] = clock
    worker = Worker(**kwargs, burst=True, poll_delay=0.01, handle_signals=False)
    try:
        await asyncio.wait_for(worker.main(), timeout=timeout_s)
    finally:
        await worker.close()
    return worker


@dataclass
class Case:
    """One test's stores and clock."""

    url: str
    tickets: TicketStore
    followups: FollowupStore
    clock: Clock
