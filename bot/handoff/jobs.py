"""The hand-off's worker job: conversations nobody claimed go to the supervisors.

A hand-off still waiting in the agents' queue ``supervisors.unclaimed_to_supervisors_after_s``
(settings/handoff.yml) after it was handed over moves to the supervisors' queue
(:meth:`bot.handoff.store.HandoffStore.move_unclaimed`), its ticket's history notes it, and
every open console hears of it (``handoff:queue``, event ``to_supervisors``) so the agents'
queue drops it and the supervisors' view shows it.

A sweep, not a job per hand-off: the hand-offs are queued by the action server, which holds
no job queue, and a sweep that reads SQL cannot lose one. It runs every
:data:`SWEEP_EVERY_S` seconds and at start-up, so a hand-off moves at most that long after
its wait is over. Running it twice, or on two workers at once, moves and notes each hand-off
once (one transaction, rows locked). ``ctx["clock"]`` is the time it reads (the real clock
unless a test drives its own).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from arq import cron
from arq.cron import CronJob
from redis.asyncio import Redis

from bot.db import make_sessionmaker
from bot.handoff.notices import HandoffNotices
from bot.handoff.policy import SupervisorsPolicy, handoff_policy
from bot.handoff.store import HandoffRecord, HandoffStore
from bot.settings import redis_location
from bot.sla.watch import utcnow

logger = logging.getLogger(__name__)

SWEEP_JOB = "handoff_unclaimed_sweep"
SWEEP_EVERY_S = 10
MOVED_EVENT = "to_supervisors"
"""The queue notice's event for a hand-off moved to the supervisors."""


async def move_unclaimed(store: HandoffStore, notices: HandoffNotices, policy: SupervisorsPolicy,
                         now: datetime) -> list[HandoffRecord]:
    """Move the hand-offs that waited too long to the supervisors and tell the consoles; those moved."""
    moved = await asyncio.to_thread(store.move_unclaimed, waited_since=now - policy.unclaimed_wait, now=now)
    for record in moved:
        await notices.changed(record, MOVED_EVENT, now)
    return moved


def open_handoff_jobs(ctx: dict[str, Any]) -> None:
    """The store, the notices and the policy on the worker's engine (called from the worker's start-up)."""
    redis = redis_location()
    ctx["handoff_store"] = HandoffStore(make_sessionmaker(ctx["engine"]))
    ctx["handoff_notices"] = HandoffNotices(
        lambda: Redis(host=redis.host, port=redis.port, socket_connect_timeout=2, socket_timeout=2)
    )
    ctx["handoff_supervisors"] = handoff_policy().supervisors
    ctx.setdefault("clock", utcnow)


async def handoff_unclaimed_sweep(ctx: dict[str, Any]) -> int:
    """The sweep of :func:`move_unclaimed`; how many hand-offs it moved."""
    moved = await move_unclaimed(ctx["handoff_store"], ctx["handoff_notices"], ctx["handoff_supervisors"], ctx["clock"]())
    if moved:
        logger.info("unclaimed hand-offs given to the supervisors", extra={"handoffs": len(moved)})
    return len(moved)


def cron_jobs() -> list[CronJob]:
    """The sweep, every :data:`SWEEP_EVERY_S` seconds and at start-up (new objects per worker, as arq
    keeps each cron job's next run on the object)."""
    return [cron(handoff_unclaimed_sweep, name=SWEEP_JOB, second=set(range(5, 60, SWEEP_EVERY_S)),
                 run_at_startup=True, keep_result=0)]
