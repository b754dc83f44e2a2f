"""The worker's follow-up jobs: one step of one follow-up, and the sweep that queues them from SQL.

Like the outbound jobs these are idempotent (see :mod:`bot.followup`); a job that fails
on an unexpected error is simply left to the next sweep, because the SQL row still says
the step is due.
"""

from __future__ import annotations

from typing import Any

from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func

from bot.db import make_sessionmaker
from bot.followup.policy import followup_policy
from bot.followup.runner import (
    FOLLOWUP_JOB,
    FOLLOWUP_SWEEP_JOB,
    FollowupRunner,
    NotYetDue,
    SweepSettings,
    clock_from_env,
)
from bot.followup.store import FollowupStore

ARQ_MAX_TRIES = 1000
"""arq's own try limit, only reached by early wake-ups; a step runs when SQL says it is due."""


def open_followups(ctx: dict[str, Any]) -> None:
    """Build the follow-up runner on the engine and outbound path :func:`worker.main.startup` opened."""
    ctx["followups"] = FollowupRunner(
        FollowupStore(make_sessionmaker(ctx["engine"])),
        ctx["outbound"],
        followup_policy(),
        clock=ctx.get("followup_clock") or clock_from_env(),
        sweep_settings=SweepSettings.from_env(),
    )


async def run_followup(ctx: dict[str, Any], key: str) -> str | None:
    """Do whatever step of follow-up ``key`` is due (the survey, the reminder, or recording it unanswered);
    woken before it is due, run again when it is."""
    try:
        return await ctx["followups"].run(key)
    except NotYetDue as early:
        raise Retry(defer=early.seconds) from None


async def sweep_followups(ctx: dict[str, Any]) -> int:
    """Queue every follow-up step SQL says is due soon and the queue does not hold."""
    return await ctx["followups"].sweep()


def followup_functions() -> list[Function]:
    """The follow-up job for ``arq.Worker``'s functions."""
    return [func(run_followup, name=FOLLOWUP_JOB, keep_result=0, max_tries=ARQ_MAX_TRIES)]


def followup_cron_jobs() -> list[CronJob]:
    """The follow-up sweep: at start-up and every minute."""
    return [cron(sweep_followups, name=FOLLOWUP_SWEEP_JOB, second=30, run_at_startup=True, keep_result=0)]
