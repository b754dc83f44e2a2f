"""Running due follow-ups: the job each one gets, and the sweep that (re)queues them from SQL.

The queue (arq) holds one job per follow-up step, named after the business key and
deferred until the step is due. It is only an alarm clock: the job reads the SQL row and
does what the row says is due, so a job that runs twice, late, or after the row moved on
does nothing wrong. The sweep pages through SQL for every pending step due within the
look-ahead and queues it; arq refuses a job id already queued, so sweeping is cheap to
repeat and is what recovers a queue Redis lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arq.constants import job_key_prefix
from redis.exceptions import RedisError

from bot.followup.messages import step_message
from bot.followup.policy import FollowupPolicy
from bot.followup.store import Followup, FollowupStore
from bot.outbound.delivery import Outbound
from bot.outbound.messages import PermanentDeliveryError
from bot.outbound.store import utcnow
from bot.settings import SettingsError, _float, _int

logger = logging.getLogger(__name__)

FOLLOWUP_JOB = "run_followup"
FOLLOWUP_SWEEP_JOB = "sweep_followups"
_JOB_SUFFIX = {"survey": "", "reminder": ":remind", "unanswered": ":expire"}
ENQUEUE_CONCURRENCY = 20
"""Jobs queued at once by a sweep (each is a few Redis round trips). Measured on 10,000 due
follow-ups: 1 at a time 12 s, 20 at a time 9 s, none refused; 200 at a time arq refused 1.6 %
of the enqueues of new ids (cause not found; the next sweep would have queued them, a minute late)."""

Clock = Callable[[], datetime]


class NotYetDue(Exception):
    """The step is pending but due only in ``seconds``; the job should run again then."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"due in {seconds:.3f} s")
        self.seconds = seconds


def job_id(followup: Followup) -> str:
    """The arq job id of the follow-up's next step: the business key itself for the survey.

    The reminder and the expiry get their own ids, so the survey's job can queue them
    while it still runs (arq refuses an id that is queued or running).
    """
    return followup.key + _JOB_SUFFIX[followup.step or "survey"]


@dataclass(frozen=True)
class SweepSettings:
    """How far ahead and how much the sweep queues.

    | variable | default | meaning |
    |---|---|---|
    | FOLLOWUP_LOOKAHEAD_S | 180 | the sweep queues steps due within this many seconds (more than its 60 s period) |
    | FOLLOWUP_SWEEP_BATCH | 1000 | rows read from SQL per page |
    """

    lookahead_s: float = 180.0
    batch: int = 1000

    @classmethod
    def from_env(cls) -> SweepSettings:
        """Read the environment; :class:`SettingsError` names a bad value."""
        settings = cls(lookahead_s=_float("FOLLOWUP_LOOKAHEAD_S", 180.0), batch=_int("FOLLOWUP_SWEEP_BATCH", 1000))
        if settings.lookahead_s < 60 or settings.batch < 1:
            raise SettingsError("FOLLOWUP_LOOKAHEAD_S must be at least 60 (the sweep's period) and FOLLOWUP_SWEEP_BATCH positive")
        return settings


@dataclass
class FollowupRunner:
    """Runs follow-up steps through the outbound path; ``clock`` is injectable so tests drive time."""

    store: FollowupStore
    outbound: Outbound
    policy: FollowupPolicy
    clock: Clock = utcnow
    sweep_settings: SweepSettings = field(default_factory=SweepSettings)
    responses: Mapping[str, list[dict[str, Any]]] | None = None

    async def run(self, key: str) -> str | None:
        """Do the step of follow-up ``key`` that is due now; the step done, or None when nothing is left to do.

        Raises :class:`NotYetDue` when the step is pending but not due (a job woken early by
        another host's clock, or queued before a reschedule). See the package docstring for
        why every stage of this is safe to repeat.
        """
        now = self.clock()
        followup, claimed = await asyncio.to_thread(self.store.claim, key, now)
        if followup is None or followup.step is None:
            return None
        if not claimed:
            raise NotYetDue((followup.due_at - now).total_seconds())
        step = followup.step
        log = {"followup_key": key, "step": step, "attempt": followup.attempts}
        if step == "unanswered":
            await asyncio.to_thread(self.store.advance, key, step, now, None)
            logger.info("follow-up recorded unanswered", extra=log)
            return step
        message = step_message(step, followup.ticket_number, followup.conversation.channel, self.responses)
        try:
            await self.outbound.deliver(followup.conversation, message, key=followup.outbound_key(step))
        except PermanentDeliveryError as error:
            await asyncio.to_thread(self.store.cancel, key, error.reason, now)
            logger.warning("follow-up cancelled: its conversation cannot be reached", extra={**log, "reason": error.reason})
            return None
        if step == "survey":
            next_due = self.policy.outside_quiet_hours(now + self.policy.reminder_after, followup.time_zone)
        else:
            next_due = now + self.policy.unanswered_after
        advanced = await asyncio.to_thread(self.store.advance, key, step, now, next_due)
        logger.info("follow-up step handed to the outbound path", extra=log)
        if advanced is not None:
            await self.enqueue(advanced)
        return step

    async def enqueue(self, followup: Followup) -> bool:
        """Queue the follow-up's next step for its due time; False if arq already has it or Redis is away."""
        if followup.step is None:
            return False
        defer_until = utcnow() + (followup.due_at - self.clock())
        try:
            job = await self.outbound.queue.enqueue_job(
                FOLLOWUP_JOB, followup.key, _job_id=job_id(followup), _defer_until=defer_until
            )
        except (RedisError, OSError) as error:
            logger.warning(
                "job queue unreachable; the sweep will queue the follow-up",
                extra={"followup_key": followup.key, "error": type(error).__name__},
            )
            return False
        return job is not None

    async def sweep(self, lookahead: timedelta | None = None) -> int:
        """Queue every pending step due within the look-ahead that the queue does not hold; how many were queued."""
        until = self.clock() + (lookahead or timedelta(seconds=self.sweep_settings.lookahead_s))
        after: tuple[datetime, int] | None = None
        queued = 0
        while True:
            page = await asyncio.to_thread(self.store.pending_until, until, after=after, limit=self.sweep_settings.batch)
            missing = await self._not_queued([followup for followup, _ in page])
            for start in range(0, len(missing), ENQUEUE_CONCURRENCY):
                chunk = missing[start:start + ENQUEUE_CONCURRENCY]
                queued += sum(await asyncio.gather(*(self.enqueue(followup) for followup in chunk)))
            if len(page) < self.sweep_settings.batch:
                break
            last, last_id = page[-1]
            after = (last.due_at, last_id)
        if queued:
            logger.info("sweep queued follow-up steps", extra={"queued": queued})
        return queued


    async def _not_queued(self, followups: list[Followup]) -> list[Followup]:
        """The follow-ups whose next step's job arq does not hold, asked in one round trip.

        With a large backlog nearly every row is already queued; asking arq to enqueue each
        again costs several round trips apiece and made a sweep of 100,000 rows outlast its
        minute. Redis unreachable: all of them (enqueue then logs and gives up).
        """
        if not followups:
            return []
        try:
            async with self.outbound.queue.pipeline(transaction=False) as pipe:
                for followup in followups:
                    pipe.exists(job_key_prefix + job_id(followup))
                held = await pipe.execute()
        except (RedisError, OSError):
            return followups
        return [followup for followup, exists in zip(followups, held) if not exists]


def clock_from_env() -> Clock:
    """The worker's clock: real time, shifted by ``FOLLOWUP_CLOCK_OFFSET_S`` seconds (0 unless a
    test or a rehearsal wants the worker to live in the future)."""
    offset = timedelta(seconds=_float("FOLLOWUP_CLOCK_OFFSET_S", 0.0))
    if not offset:
        return utcnow
    return lambda: utcnow() + offset
