"""What the worker runs: the outbound, call-back, follow-up and SLA watcher jobs, their sweeps, the
hand-off sweep (unclaimed conversations to the supervisors), and the resources they share.

Jobs are idempotent (arq may run a job more than once): each reads its messages' SQL
rows and does only what the rows still need. A job that must wait raises arq's
``Retry`` with the delay the domain asked for; the number of tries is bounded by the
row's own attempt count in SQL, so arq's counter is set high enough never to cut in
first. The sweeps run at start-up and then every minute. The follow-up jobs live in
:mod:`worker.followups`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
from arq import Retry, cron
from arq.worker import func

from bot.callbacks.jobs import open_callback_jobs, worker_cron_jobs, worker_functions
from bot.db import make_engine, make_sessionmaker, migrate
from bot.handoff import jobs as handoff_jobs
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Transport
from bot.outbound.queue import DELIVER_JOB, SWEEP_JOB, deserialize, redis_settings, serialize
from bot.outbound.registry import register_transport, registered_channels
from bot.outbound.settings import OutboundSettings
from bot.outbound.store import OutboundStore
from bot.outbound.transcript import RasaTranscript
from bot.sla import jobs as sla_jobs
from bot.sla.settings import SlaWatchSettings, load_sla_watch_settings
from bot.sla.watch import Clock
from worker.followups import followup_cron_jobs, followup_functions, open_followups

logger = logging.getLogger(__name__)

TRANSPORT_MODULES = ("bot.outbound.webchat", "bot.outbound.telegram")
"""Modules that each offer ``create_transport()`` (plain or async, no arguments, reading
their own settings, None when their channel is configured off); one that is not installed
is skipped with a log line."""

ARQ_MAX_TRIES = 1000
"""arq's own try limit; the real bound is OUTBOUND_MAX_ATTEMPTS, counted in SQL."""


async def open_transports(modules: Sequence[str]) -> list[Transport]:
    """Import each transport module that exists, build its transport and register it."""
    opened: list[Transport] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            logger.info("transport module not installed; its channel is not served", extra={"transport_module": name})
            continue
        factory = getattr(module, "create_transport", None)
        if factory is None:
            logger.error("transport module has no create_transport(); its channel is not served", extra={"transport_module": name})
            continue
        try:
            transport = factory()
            if inspect.isawaitable(transport):
                transport = await transport
        except Exception:  # a channel that cannot start must not stop the others
            logger.exception("transport could not start; its channel is not served", extra={"transport_module": name})
            continue
        if transport is None:
            logger.info("transport not configured; its channel is off", extra={"transport_module": name})
            continue
        register_transport(transport)
        opened.append(transport)
    logger.info("transports registered", extra={"channels": ",".join(registered_channels()) or "none"})
    return opened


async def startup(ctx: dict[str, Any]) -> None:
    """Migrate the schema, then open the store, the Rasa client and the transports."""
    engine = make_engine(ctx["database_url"])
    await asyncio.to_thread(migrate, engine)
    settings: OutboundSettings = ctx["outbound_settings"]
    ctx["engine"] = engine
    ctx["outbound"] = Outbound(OutboundStore(make_sessionmaker(engine)), ctx["redis"], settings)
    ctx["http"] = aiohttp.ClientSession()
    ctx["transcript"] = RasaTranscript(ctx["http"], settings.rasa_urls, ctx["rasa_token"])
    ctx["transports"] = await open_transports(ctx["transport_modules"])
    ctx["callback_jobs"] = open_callback_jobs(ctx)
    open_followups(ctx)
    await sla_jobs.open_sla(ctx)
    handoff_jobs.open_handoff_jobs(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close what :func:`startup` opened (the queue connection is arq's to close)."""
    for transport in ctx.get("transports", []):
        close = getattr(transport, "close", None)
        if close is not None:
            await close()
    if "http" in ctx:
        await ctx["http"].close()
    if "engine" in ctx:
        ctx["engine"].dispose()


async def deliver_outbound(ctx: dict[str, Any], *keys: str) -> None:
    """Send the messages ``keys`` and append them to their Rasa conversations; run again
    when the next of them is due (a transient failure, Rasa away) until all are finished."""
    delay = await ctx["outbound"].attempt(ctx["transcript"], keys)
    if delay is not None:
        raise Retry(defer=delay)


async def sweep_outbound(ctx: dict[str, Any]) -> int:
    """Queue again the outbound work SQL says is unfinished and the queue has lost."""
    return await ctx["outbound"].sweep()


def worker_settings(
    settings: OutboundSettings,
    *,
    database_url: str,
    rasa_token: str,
    transport_modules: Sequence[str] = TRANSPORT_MODULES,
    sla_settings: SlaWatchSettings | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker`` (or ``arq.run_worker``): jobs, sweeps, queue, start-up.

    ``clock`` is the time the SLA jobs and the hand-off sweep read (the real one unless a test drives its own).
    """
    ctx: dict[str, Any] = {
        "outbound_settings": settings,
        "database_url": database_url,
        "rasa_token": rasa_token,
        "transport_modules": tuple(transport_modules),
        "sla_settings": sla_settings or load_sla_watch_settings(),
    }
    if clock is not None:
        ctx["clock"] = clock
    return {
        "functions": [
            func(deliver_outbound, name=DELIVER_JOB, keep_result=0, max_tries=ARQ_MAX_TRIES),
            *worker_functions(ARQ_MAX_TRIES),
            *followup_functions(),
            *sla_jobs.functions(),
        ],
        "cron_jobs": [
            cron(sweep_outbound, name=SWEEP_JOB, second=0, run_at_startup=True, keep_result=0),
            *worker_cron_jobs(),
            *followup_cron_jobs(),
            *sla_jobs.cron_jobs(),
            *handoff_jobs.cron_jobs(),
        ],
        "redis_settings": redis_settings(settings),
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": ctx,
    }
