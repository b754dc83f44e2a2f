"""Running due follow-ups: one job per due window that claims them in batches, and the sweep that queues the windows.

Time is cut into windows of ``FOLLOWUP_WINDOW_S`` (half a second). The queue (arq) holds one
job per window that holds a pending step, named after the window and deferred to its
end. It is only an alarm clock: the job claims from SQL every step due by then, a
batch at a time, so a job that runs twice, late, or after the rows moved on does
nothing wrong. A full batch queues the window's next part before it is handed over,
so the workers claim and hand over the parts of a busy window side by side. The
sweep probes SQL for the windows due within the look-ahead and queues those the queue
does not hold; arq refuses a job id already queued, so sweeping is cheap to repeat and
is what recovers a queue Redis lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from arq.constants import job_key_prefix
from redis.exceptions import RedisError

from bot.followup.messages import step_message
from bot.followup.policy import FollowupPolicy
from bot.followup.store import Followup, FollowupStore
from bot.outbound.delivery import NO_PUSH, Outbound
from bot.outbound.messages import Outgoing
from bot.outbound.store import utcnow
from bot.settings import SettingsError, _float, _int

logger = logging.getLogger(__name__)

FOLLOWUP_JOB = "run_due_followups"
FOLLOWUP_SWEEP_JOB = "sweep_followups"
ENQUEUE_CONCURRENCY = 20
"""Jobs queued at once by a sweep (each is a few Redis round trips). Measured on 10,000 due
follow-ups: 1 at a time 12 s, 20 at a time 9 s, none refused; 200 at a time arq refused 1.6 %
of the enqueues of new ids (cause not found; the next sweep would have queued them, a minute late)."""

Clock = Callable[[], datetime]


class NotYetDue(Exception):
    """The window ends only in ``seconds``; the job should run again then."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"due in {seconds:.3f} s")
        self.seconds = seconds


def job_id(window_end: datetime, part: int = 0) -> str:
    """The arq job id of a window's part: the window's end in epoch milliseconds, then the part."""
    return f"followups-due:{to_ms(window_end)}:{part}"


def to_ms(moment: datetime) -> int:
    """``moment`` as whole milliseconds since the epoch (a job argument that JSON carries)."""
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The inverse of :func:`to_ms`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass(frozen=True)
class BatchSettings:
    """How the follow-up jobs cut the due work.

    | variable | default | meaning |
    |---|---|---|
    | FOLLOWUP_LOOKAHEAD_S | 180 | the sweep queues windows due within this many seconds (more than its 60 s period) |
    | FOLLOWUP_WINDOW_S | 0.5 | the width of a window: a step runs at most this late, plus the time to hand it over |
    | FOLLOWUP_BATCH | 250 | follow-ups one job claims and hands to the outbound path as one batch |
    | FOLLOWUP_CLAIM_LEASE_S | 60 | how long a claimed follow-up is reserved; one whose worker died is claimed again after this |
    """

    lookahead_s: float = 180.0
    window_s: float = 0.5
    batch: int = 250
    claim_lease_s: float = 60.0

    @classmethod
    def from_env(cls) -> BatchSettings:
        """Read the environment; :class:`SettingsError` names a bad value."""
        settings = cls(
            lookahead_s=_float("FOLLOWUP_LOOKAHEAD_S", 180.0),
            window_s=_float("FOLLOWUP_WINDOW_S", 0.5),
            batch=_int("FOLLOWUP_BATCH", 250),
            claim_lease_s=_float("FOLLOWUP_CLAIM_LEASE_S", 60.0),
        )
        if settings.lookahead_s < 60 or settings.batch < 1:
            raise SettingsError("FOLLOWUP_LOOKAHEAD_S must be at least 60 (the sweep's period) and FOLLOWUP_BATCH positive")
        if not 0.001 <= settings.window_s <= 60 or settings.claim_lease_s <= 0:
            raise SettingsError("FOLLOWUP_WINDOW_S must be between 0.001 and 60, and FOLLOWUP_CLAIM_LEASE_S positive")
        return settings


@dataclass
class FollowupRunner:
    """Runs follow-up steps through the outbound path; ``clock`` is injectable so tests drive time."""

    store: FollowupStore
    outbound: Outbound
    policy: FollowupPolicy
    clock: Clock = utcnow
    settings: BatchSettings = field(default_factory=BatchSettings)
    responses: Mapping[str, list[dict[str, Any]]] | None = None

    async def run_due(self, window_end: datetime, part: int = 0) -> int:
        """Claim a batch of the steps due now and hand them over; how many were claimed.

        Raises :class:`NotYetDue` when the window has not ended (a job woken early by
        another host's clock). A full batch first queues part ``part + 1`` of the
        window, which takes the next batch, so a busy window is shared by the workers.
        See the package docstring for why every stage of this is safe to repeat.
        """
        now = self.clock()
        if now < window_end:
            raise NotYetDue((window_end - now).total_seconds())
        lease = timedelta(seconds=self.settings.claim_lease_s)
        claimed = await asyncio.to_thread(self.store.claim_due, now, limit=self.settings.batch, lease=lease)
        if len(claimed) == self.settings.batch:
            await self.enqueue(window_end, part + 1)
        if claimed:
            await self._hand_over(claimed, now)
        return len(claimed)

    async def _hand_over(self, claimed: list[Followup], now: datetime) -> None:
        """Record the claimed steps' messages as one batch, then advance the follow-ups, a statement per next due time."""
        messaged = [followup for followup in claimed if followup.step != "unanswered"]
        records = await self.outbound.deliver_many([
            Outgoing(
                followup.conversation,
                step_message(followup.step, followup.ticket_number, followup.conversation.channel, self.responses),
                followup.outbound_key(followup.step),
            )
            for followup in messaged
        ])
        refused = {record.key for record in records if record.conversation.channel in NO_PUSH}
        next_due = {(f.step, f.time_zone): self._next_due(f.step, f.time_zone, now) for f in claimed}
        batches: dict[tuple[str, datetime | None], list[str]] = defaultdict(list)
        for followup in claimed:
            if followup.step != "unanswered" and followup.outbound_key(followup.step) in refused:
                await asyncio.to_thread(self.store.cancel, followup.key, NO_PUSH[followup.conversation.channel], now)
                logger.warning("follow-up cancelled: its conversation cannot be reached", extra={"followup_key": followup.key})
                continue
            batches[(followup.step, next_due[(followup.step, followup.time_zone)])].append(followup.key)
        for (step, next_due), keys in batches.items():
            await asyncio.to_thread(self.store.advance, keys, step, now, next_due)
        logger.info(
            "follow-up steps handed to the outbound path",
            extra={"claimed": len(claimed), "messages": len(messaged) - len(refused)},
        )

    def _next_due(self, step: str, time_zone: str, now: datetime) -> datetime | None:
        """When the step after ``step`` done ``now`` is due: the reminder out of quiet hours, then the expiry; None after that."""
        if step == "survey":
            return self.policy.outside_quiet_hours(now + self.policy.reminder_after, time_zone)
        if step == "reminder":
            return now + self.policy.unanswered_after
        return None

    async def enqueue(self, window_end: datetime, part: int = 0) -> bool:
        """Queue part ``part`` of the window for its end; False if arq already has it or Redis is away."""
        defer_until = utcnow() + (window_end - self.clock())
        try:
            job = await self.outbound.queue.enqueue_job(
                FOLLOWUP_JOB, to_ms(window_end), part, _job_id=job_id(window_end, part), _defer_until=defer_until
            )
        except (RedisError, OSError) as error:
            logger.warning(
                "job queue unreachable; the sweep will queue the window",
                extra={"window_end": window_end.isoformat(), "error": type(error).__name__},
            )
            return False
        return job is not None

    async def sweep(self, lookahead: timedelta | None = None) -> int:
        """Queue every window holding a pending step due within the look-ahead that the queue does not hold; how many."""
        now = self.clock()
        until = now + (lookahead or timedelta(seconds=self.settings.lookahead_s))
        width = timedelta(seconds=self.settings.window_s)
        ends = await self._not_queued(await asyncio.to_thread(self.store.due_windows, now, until, width))
        queued = 0
        for start in range(0, len(ends), ENQUEUE_CONCURRENCY):
            chunk = ends[start:start + ENQUEUE_CONCURRENCY]
            queued += sum(await asyncio.gather(*(self.enqueue(end) for end in chunk)))
        if queued:
            logger.info("sweep queued follow-up windows", extra={"queued": queued})
        return queued

    async def _not_queued(self, ends: list[datetime]) -> list[datetime]:
        """The windows whose first part arq does not hold, asked in one round trip.

        Nearly every window within the look-ahead is already queued by the sweep before;
        asking arq to enqueue each again costs several round trips apiece. Redis
        unreachable: all of them (enqueue then logs and gives up).
        """
        if not ends:
            return []
        try:
            async with self.outbound.queue.pipeline(transaction=False) as pipe:
                for end in ends:
                    pipe.exists(job_key_prefix + job_id(end))
                held = await pipe.execute()
        except (RedisError, OSError):
            return ends
        return [end for end, exists in zip(ends, held) if not exists]


def clock_from_env() -> Clock:
    """The worker's clock: real time, shifted by ``FOLLOWUP_CLOCK_OFFSET_S`` seconds (0 unless a
    test or a rehearsal wants the worker to live in the future)."""
    offset = timedelta(seconds=_float("FOLLOWUP_CLOCK_OFFSET_S", 0.0))
    if not offset:
        return utcnow
    return lambda: utcnow() + offset
