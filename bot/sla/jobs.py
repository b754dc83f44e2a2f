"""The SLA watcher's worker jobs: a check at its due time, the minute sweep, the status notices.

The worker (``worker/main.py``) registers :func:`functions` and :func:`cron_jobs` and calls
:func:`open_sla` at start-up. Any process may call :func:`watch_ticket` after filing a
ticket to queue its checks at once instead of at the next sweep. ``ctx["clock"]`` is the
time every job reads (the real clock unless a test drives its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from arq import Retry, cron
from arq.cron import CronJob
from arq.connections import ArqRedis
from arq.worker import Function, func
from redis.exceptions import RedisError

from bot.db import make_sessionmaker
from bot.domain_config import load_domain_config
from bot.errors import TicketNotFound
from bot.settings import load_settings
from bot.sla.notices import KEY_PREFIX, StatusNotices, load_notice_texts
from bot.sla.settings import SlaWatchSettings
from bot.sla.watch import SlaCheck, SlaWatch, utcnow
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

CHECK_JOB = "sla_check"
SWEEP_JOB = "sla_sweep"
NOTICE_SWEEP_JOB = "status_notice_sweep"
MAX_TRIES = 1000
"""arq's own try limit; a check waits (Retry) only while the clock says it is not yet due."""


async def enqueue_check(queue: ArqRedis, check: SlaCheck) -> bool:
    """Queue the check's job for its due time under its business key; False if arq already holds it.

    A time already past is queued for now: arq counts a job's expiry from its due time, so a
    long-past one would expire unrun (the sweep judges overdue checks itself anyway).
    """
    try:
        job = await queue.enqueue_job(
            CHECK_JOB, check.ticket_number, check.check, _job_id=check.key, _defer_until=max(check.due_at, utcnow())
        )
    except (RedisError, OSError) as error:
        logger.warning("job queue unreachable; the sweep will queue the check", extra={"key": check.key, "error": type(error).__name__})
        return False
    return job is not None


async def watch_ticket(
    watch: SlaWatch, queue: ArqRedis, number: str, planned: Sequence[SlaCheck] = ()
) -> list[SlaCheck]:
    """Queue a newly filed ticket's checks now; the checks queued.

    ``planned`` are the checks its filing wrote already (see ``TicketStore.create``'s
    ``within``); without them the ticket's checks are planned here first.
    """
    checks = list(planned) or await asyncio.to_thread(watch.plan, number)
    for check in checks:
        await enqueue_check(queue, check)
    return checks


async def sweep(watch: SlaWatch, queue: ArqRedis, now: datetime) -> dict[str, int]:
    """Plan new tickets, judge every overdue check, queue the upcoming ones again; counts of each."""
    planned = await asyncio.to_thread(watch.plan)
    judged = 0
    for check in await asyncio.to_thread(watch.overdue, now):
        try:
            await asyncio.to_thread(watch.run, check.ticket_number, check.check, now)
        except TicketNotFound:
            continue
        judged += 1
    queued = 0
    for check in await asyncio.to_thread(watch.upcoming, now):
        queued += await enqueue_check(queue, check)
    counts = {"planned": len(planned), "judged": judged, "queued": queued}
    if judged or queued or planned:
        logger.info("SLA sweep", extra=counts)
    return counts


async def open_sla(ctx: dict[str, Any]) -> None:
    """Build the watcher and the notices on the worker's engine (called from the worker's start-up, after
    the outbound path, which from then on withholds any status notice overtaken before its send)."""
    settings: SlaWatchSettings = ctx["sla_settings"]
    sessions = make_sessionmaker(ctx["engine"])
    process = load_settings()
    tickets = TicketStore(sessions, attempts=process.db_retry_attempts, delay_s=process.db_retry_delay_s)
    sla = load_domain_config(process.config_dir).sla
    ctx["sla_watch"] = SlaWatch(sessions, tickets, sla, batch=settings.sweep_batch)
    notices = StatusNotices(sessions, load_notice_texts(), window=settings.notice_window, batch=settings.sweep_batch)
    ctx["status_notices"] = notices
    ctx["outbound"].withhold(KEY_PREFIX, notices.overtaken)
    ctx.setdefault("clock", utcnow)


async def sla_check(ctx: dict[str, Any], number: str, check: str) -> str | None:
    """Judge one check at its due time; the outcome (None for a ticket that is gone)."""
    now = ctx["clock"]()
    try:
        result = await asyncio.to_thread(ctx["sla_watch"].run, number, check, now)
    except TicketNotFound:
        logger.info("SLA check for a ticket that no longer exists", extra={"ticket_number": number, "check": check})
        return None
    if result.done_at is None:
        raise Retry(defer=max((result.due_at - now).total_seconds(), 1.0))
    return result.outcome


async def sla_sweep(ctx: dict[str, Any]) -> dict[str, int]:
    """The minute sweep of :func:`sweep`."""
    return await sweep(ctx["sla_watch"], ctx["redis"], ctx["clock"]())


async def status_notice_sweep(ctx: dict[str, Any]) -> int:
    """Announce status changes nobody announced yet (the API announces its own at once)."""
    return len(await ctx["status_notices"].deliver_pending(ctx["outbound"], ctx["clock"]()))


def functions() -> list[Function]:
    """The jobs the worker registers."""
    return [func(sla_check, name=CHECK_JOB, keep_result=0, max_tries=MAX_TRIES)]


def cron_jobs() -> list[CronJob]:
    """The sweeps, every minute and at start-up; new objects per worker, because arq keeps
    each cron job's next run on the object itself."""
    return [
        cron(sla_sweep, name=SWEEP_JOB, second=0, run_at_startup=True, keep_result=0),
        cron(status_notice_sweep, name=NOTICE_SWEEP_JOB, second=30, run_at_startup=True, keep_result=0),
    ]
