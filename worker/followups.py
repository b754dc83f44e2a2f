"""The worker's follow-up jobs: the steps due in one window, and the sweep that queues the windows from SQL.

Like the outbound jobs these are idempotent (see :mod:`bot.followup`); a job that fails
on an unexpected error is simply left to the next sweep, because the SQL rows still say
the steps are due.
"""

from __future__ import annotations

from typing import Any

from arq import Retry, cron
from arq.cron import CronJob
from arq.worker import Function, func

from bot.db import make_sessionmaker
from bot.followup.messages import domain_responses
from bot.followup.policy import followup_policy
from bot.followup.runner import (
    FOLLOWUP_JOB,
    FOLLOWUP_SWEEP_JOB,
    BatchSettings,
    FollowupRunner,
    NotYetDue,
    clock_from_env,
    from_ms,
)
from bot.followup.store import FollowupStore

ARQ_MAX_TRIES = 1000
"""arq's own try limit, only reached by early wake-ups; a step runs when SQL says it is due."""


def open_followups(ctx: dict[str, Any]) -> None:
    """Build the follow-up runner on the engine and outbound path :func:`worker.main.startup` opened.

    domain.yml is read here, at start-up, not by the first window's job (half a second late).
    """
    ctx["followups"] = FollowupRunner(
        FollowupStore(make_sessionmaker(ctx["engine"])),
        ctx["outbound"],
        followup_policy(),
        clock=ctx.get("followup_clock") or clock_from_env(),
        settings=BatchSettings.from_env(),
        responses=domain_responses(),
    )


async def run_due_followups(ctx: dict[str, Any], window_end_ms: int, part: int = 0) -> int:
    """Claim a batch of the follow-up steps due at the window's end (surveys, reminders, expiries) and hand
    them to the outbound path; woken before the window ends, run again when it does."""
    try:
        return await ctx["followups"].run_due(from_ms(window_end_ms), part)
    except NotYetDue as early:
        raise Retry(defer=early.seconds) from None


async def sweep_followups(ctx: dict[str, Any]) -> int:
    """Queue every window of follow-up steps SQL says is due soon and the queue does not hold."""
    return await ctx["followups"].sweep()


def followup_functions() -> list[Function]:
    """The follow-up job for ``arq.Worker``'s functions."""
    return [func(run_due_followups, name=FOLLOWUP_JOB, keep_result=0, max_tries=ARQ_MAX_TRIES)]


def followup_cron_jobs() -> list[CronJob]:
    """The follow-up sweep: at start-up and every minute."""
    return [cron(sweep_followups, name=FOLLOWUP_SWEEP_JOB, second=30, run_at_startup=True, keep_result=0)]
