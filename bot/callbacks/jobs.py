"""The callback jobs the worker runs: the reminder before the call and the missed-call check.

**Protocol (at least once, exactly once in effect).** SQL's ``callbacks`` row is the
record; a job only does what the row still needs, so running it twice is harmless:

- *Reminder* (job id ``callback:<ticket>:<n>:remind``): if the row is still booked and
  its reminder pending, hand the message to the outbound path under the key
  ``callback:<ticket>:<n>:reminder`` and then record ``reminder = sent``. A worker killed
  between the two runs the job again; the outbound path already holds that key and sends
  nothing new, so the customer gets one reminder. A rescheduled or cancelled booking is
  no longer ``booked``, so its old reminder is never sent.
- *Missed check* (job id ``callback:<ticket>:<n>:missed``): once the slot ended
  ``missed_after_minutes`` ago and the call is still booked (not marked done), move the
  ticket to ``escalated`` with a note, then mark the call ``missed``. Killed in between,
  the rerun finds the ticket already escalated (an illegal second move, taken as done)
  and marks the call.
- *Sweep* (every minute and at start-up): every booked call whose reminder or check is
  due within :data:`SWEEP_AHEAD` is queued again under the same job id; arq refuses an id
  already queued, so only what Redis lost comes back.

Booking queues both jobs deferred to their due time. Time comes from ``ctx["clock"]``
when a test sets one, so nothing waits for hours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from arq import Retry, cron
from arq.worker import func
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from bot.callbacks.policy import CallbackPolicy, callback_policy, zone
from bot.callbacks.slots import Slot, slot_label
from bot.callbacks.store import CallbackRecord, CallbackStore
from bot.db import make_sessionmaker
from bot.errors import InvalidTransition, TicketNotFound
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Button, Conversation, OutboundMessage, PermanentDeliveryError
from bot.settings import PROJECT_ROOT
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

REMINDER_JOB = "callback_reminder"
MISSED_JOB = "callback_missed_check"
SWEEP_JOB = "sweep_callbacks"
SWEEP_AHEAD = timedelta(minutes=5)
"""The sweep queues work due within this long; later work was queued at booking."""
SWEEP_BATCH = 1000
REMINDER_RESPONSE = "utter_callback_reminder"
BUTTON_RESPONSES = ("utter_button_callback_reschedule", "utter_button_callback_cancel")
MANAGE_PAYLOAD = '/choose_option{{"callback_action":"{action}"}}'
"""Buttons that change or cancel a booked call: the choose_option intent with a callback_action entity."""

Clock = Callable[[], datetime]
PUSHED_OFFER_RESPONSES = ("utter_callback_pushed_offer", "utter_button_callback_none")
"""The apology with call-back times pushed to a ticket near its breach, and its "no call" button."""


def utcnow() -> datetime:
    """The real clock; the worker's and the actions' default, replaced by tests."""
    return datetime.now(timezone.utc)


def reminder_job_id(key: str) -> str:
    """The reminder job's id: not the reminder message's key, which the outbound send job uses as its id."""
    return f"{key}:remind"


def missed_job_id(key: str) -> str:
    """The missed-call check's job id: one check per booking."""
    return f"{key}:missed"


def reminder_due(record: CallbackRecord, policy: CallbackPolicy) -> datetime:
    """When the booking's reminder is sent: ``reminder_minutes_before`` its slot."""
    return record.slot_start - timedelta(minutes=policy.reminder_minutes_before)


def missed_due(record: CallbackRecord, policy: CallbackPolicy) -> datetime:
    """When a call not marked done counts as missed: ``missed_after_minutes`` after its slot ends."""
    return record.slot_end + timedelta(minutes=policy.missed_after_minutes)


def manage_buttons(titles: tuple[str, str]) -> tuple[Button, Button]:
    """The "change the time" and "cancel the call" buttons, titled from domain.yml."""
    reschedule, cancel = titles
    return (
        Button(reschedule, MANAGE_PAYLOAD.format(action="reschedule")),
        Button(cancel, MANAGE_PAYLOAD.format(action="cancel")),
    )


def _jobs_of(record: CallbackRecord, policy: CallbackPolicy, until: datetime | None) -> list[tuple[str, str, datetime]]:
    """(job name, job id, due) of the jobs a booked call still needs, only those due by ``until`` if given."""
    if record.state != "booked":
        return []
    wanted = [(MISSED_JOB, missed_job_id(record.key), missed_due(record, policy))]
    if record.reminder == "pending":
        wanted.insert(0, (REMINDER_JOB, reminder_job_id(record.key), reminder_due(record, policy)))
    return [job for job in wanted if until is None or job[2] <= until]


async def _enqueue(queue: ArqRedis, key: str, jobs: list[tuple[str, str, datetime]], now: datetime) -> int:
    """Queue each job deferred to its due time; arq refuses an id already queued. How many were new."""
    queued = 0
    for name, job_id, due in jobs:
        job = await queue.enqueue_job(name, key, _job_id=job_id, _defer_by=max((due - now).total_seconds(), 0.0))
        queued += job is not None
    return queued


async def queue_jobs(queue: ArqRedis, record: CallbackRecord, policy: CallbackPolicy, now: datetime) -> int:
    """Queue the booking's reminder (while pending) and missed check, each deferred to its due time.

    Returns how many were newly queued. An unreachable Redis is logged, not raised: the
    sweep queues the jobs from SQL when they come due.
    """
    try:
        return await _enqueue(queue, record.key, _jobs_of(record, policy, None), now)
    except (RedisError, OSError) as error:
        logger.warning(
            "job queue unreachable; the callback sweep will queue the jobs",
            extra={"callback_key": record.key, "error": type(error).__name__},
        )
        return 0


def domain_texts(names: tuple[str, ...], domain_path: Path = PROJECT_ROOT / "domain.yml") -> dict[str, str]:
    """The first variation of each response, read from domain.yml (the one home of customer text)."""
    responses = yaml.safe_load(domain_path.read_text(encoding="utf-8"))["responses"]
    missing = [name for name in names if name not in responses]
    if missing:
        raise ValueError(f"domain.yml lacks the callback responses: {', '.join(missing)}")
    return {name: responses[name][0]["text"] for name in names}


@dataclass
class CallbackJobs:
    """What the worker's callback jobs do; see the module docstring."""

    store: CallbackStore
    tickets: TicketStore
    outbound: Outbound
    policy: CallbackPolicy
    texts: dict[str, str]
    clock: Clock = utcnow

    async def remind(self, key: str) -> float | None:
        """Send the reminder if it is due and still owed; seconds to wait if it is early."""
        record = await asyncio.to_thread(self.store.get, key)
        if record is None or record.state != "booked" or record.reminder != "pending":
            return None
        now = self.clock()
        due = reminder_due(record, self.policy)
        if now < due:
            return (due - now).total_seconds()
        if now >= record.slot_start:
            await asyncio.to_thread(self.store.set_reminder, key, "too_late", now)
            logger.info("callback reminder skipped: the slot has begun", extra={"callback_key": key})
            return None
        try:
            await self.outbound.deliver(
                Conversation.from_sender_id(record.sender_id), self._reminder(record), key=record.reminder_key
            )
        except PermanentDeliveryError as error:
            await asyncio.to_thread(self.store.set_reminder, key, "no_push", now)
            logger.info("callback reminder not sendable on this channel", extra={"callback_key": key, "reason": error.reason})
            return None
        await asyncio.to_thread(self.store.set_reminder, key, "sent", now)
        logger.info("callback reminder handed to the outbound path", extra={"callback_key": key})
        return None

    def _reminder(self, record: CallbackRecord) -> OutboundMessage:
        slot = Slot(record.slot_start, record.slot_end)
        text = self.texts[REMINDER_RESPONSE].format(
            ticket_number=record.ticket_number, slot_time=slot_label(slot, zone(record.customer_timezone))
        )
        titles = (self.texts[BUTTON_RESPONSES[0]], self.texts[BUTTON_RESPONSES[1]])
        return OutboundMessage(text, manage_buttons(titles))

    async def check_missed(self, key: str) -> float | None:
        """Escalate the ticket of a call not marked done in its window; seconds to wait if early."""
        record = await asyncio.to_thread(self.store.get, key)
        if record is None or record.state != "booked":
            return None
        now = self.clock()
        due = missed_due(record, self.policy)
        if now < due:
            return (due - now).total_seconds()
        note = (
            f"Callback {key} booked for {record.slot_start.isoformat()} was not marked done "
            f"within {self.policy.missed_after_minutes} minutes of its slot."
        )
        try:
            await asyncio.to_thread(
                self.tickets.transition, record.ticket_number, "escalated", actor="system", now=now, note=note
            )
        except (InvalidTransition, TicketNotFound) as error:
            logger.warning(
                "missed callback: the ticket was not escalated",
                extra={"callback_key": key, "ticket_number": record.ticket_number, "reason": type(error).__name__},
            )
        await asyncio.to_thread(self.store.mark_missed, key, now)
        logger.warning("callback missed; ticket escalated", extra={"callback_key": key, "ticket_number": record.ticket_number})
        return None

    async def sweep(self, queue: ArqRedis) -> int:
        """Queue again the callback jobs due soon whose queue entry is gone; how many were queued."""
        now = self.clock()
        queued = 0
        for record in await asyncio.to_thread(self.store.booked, SWEEP_BATCH):
            queued += await _enqueue(queue, record.key, _jobs_of(record, self.policy, now + SWEEP_AHEAD), now)
        if queued:
            logger.info("callback sweep queued jobs", extra={"queued": queued})
        return queued


async def callback_reminder(ctx: dict[str, Any], key: str) -> None:
    """arq job: the reminder of booking ``key``."""
    delay = await ctx["callback_jobs"].remind(key)
    if delay is not None:
        raise Retry(defer=delay)


async def callback_missed_check(ctx: dict[str, Any], key: str) -> None:
    """arq job: the missed-call check of booking ``key``."""
    delay = await ctx["callback_jobs"].check_missed(key)
    if delay is not None:
        raise Retry(defer=delay)


async def sweep_callbacks(ctx: dict[str, Any]) -> int:
    """arq cron job: queue again what Redis lost."""
    return await ctx["callback_jobs"].sweep(ctx["redis"])


def worker_functions(max_tries: int) -> list[Any]:
    """The callback jobs for ``arq.Worker(functions=...)``."""
    return [
        func(callback_reminder, name=REMINDER_JOB, keep_result=0, max_tries=max_tries),
        func(callback_missed_check, name=MISSED_JOB, keep_result=0, max_tries=max_tries),
    ]


def worker_cron_jobs() -> list[Any]:
    """The callback sweep for ``arq.Worker(cron_jobs=...)``: every minute and at start-up."""
    return [cron(sweep_callbacks, name=SWEEP_JOB, second=30, run_at_startup=True, keep_result=0)]


def open_callback_jobs(ctx: dict[str, Any]) -> CallbackJobs:
    """The worker's :class:`CallbackJobs`, on the engine and outbound path its start-up opened."""
    policy = callback_policy()
    sessions = make_sessionmaker(ctx["engine"])
    return CallbackJobs(
        store=CallbackStore(sessions, capacity=policy.capacity_per_slot),
        tickets=TicketStore(sessions, attempts=3, delay_s=0.5),
        outbound=ctx["outbound"],
        policy=policy,
        texts=domain_texts((REMINDER_RESPONSE, *BUTTON_RESPONSES, *PUSHED_OFFER_RESPONSES)),
        clock=ctx.get("clock", utcnow),
    )
