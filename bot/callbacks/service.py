"""Callbacks as the dialogue, the worker and the ticket API use them: one object per process.

:class:`Callbacks` joins the policy, the SQL store and the job queue: it offers free
slots, books what a customer's answer names (then queues the reminder and the missed
check) and cancels. The agents' work
queue uses :func:`list_callbacks` and :func:`mark_done`; the SLA watcher, :func:`push_offer`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from arq.connections import ArqRedis

from bot.callbacks.choosing import Choice, choose
from bot.callbacks.jobs import PUSHED_OFFER_RESPONSES, CallbackJobs, queue_jobs
from bot.callbacks.policy import CallbackPolicy, zone
from bot.callbacks.slots import Slot, free_slots, horizon, slot_label
from bot.callbacks.store import CallbackRecord, CallbackStore, SlotFull, WorkItem
from bot.outbound.delivery import Outbound
from bot.lifecycle import OPEN_STATES
from bot.outbound.messages import Button, Conversation, OutboundMessage, PermanentDeliveryError
from bot.outbound.store import DeliveryRecord

logger = logging.getLogger(__name__)

QueueOpener = Callable[[], Awaitable[ArqRedis]]


@dataclass(frozen=True)
class Booking:
    """What an answer did: the decision, and the booking when one was made."""

    choice: Choice
    record: CallbackRecord | None


def customer_zone(name: str | None, policy: CallbackPolicy) -> ZoneInfo:
    """The customer's time zone if their channel named a real one, else the policy's default."""
    if name:
        try:
            return zone(name)
        except ValueError:
            logger.info("unknown customer time zone; using the default")
    return policy.default_customer_zone


class Callbacks:
    """See the module docstring. ``open_queue`` is called per booking, so a down Redis only delays jobs."""

    def __init__(self, store: CallbackStore, policy: CallbackPolicy, open_queue: QueueOpener) -> None:
        self.store = store
        self.policy = policy
        self._open_queue = open_queue

    async def _taken(self, now: datetime) -> dict[datetime, int]:
        return await asyncio.to_thread(self.store.taken, now - timedelta(days=1), horizon(self.policy, now) + timedelta(days=1))

    async def offer(self, now: datetime, *, after: datetime | None = None) -> list[Slot]:
        """The free slots to offer as buttons, earliest first."""
        return free_slots(self.policy, now, await self._taken(now), after=after)

    async def answer(
        self,
        text: str,
        *,
        offered: Sequence[str],
        now: datetime,
        zone_: ZoneInfo,
        ticket_number: str,
        sender_id: str,
        channel: str,
    ) -> Booking:
        """Book what ``text`` names if it can be booked; else say why, with alternatives.

        A slot filled by someone else between the offer and the booking comes back as
        "full" with fresh alternatives, never as an overbooked slot.
        """
        taken = await self._taken(now)
        choice = choose(answer=text, offered=offered, now=now, policy=self.policy, taken=taken, customer_zone=zone_)
        if choice.outcome != "book" or choice.slot is None:
            return Booking(choice, None)
        try:
            record = await asyncio.to_thread(
                self.store.book,
                ticket_number=ticket_number,
                channel=channel,
                sender_id=sender_id,
                slot=choice.slot,
                customer_timezone=zone_.key,
                now=now,
            )
        except SlotFull:
            alternatives = tuple(await self.offer(now, after=choice.slot.start))
            return Booking(Choice("full", alternatives=alternatives), None)
        await self.queue(record, now)
        return Booking(choice, record)

    async def queue(self, record: CallbackRecord, now: datetime) -> int:
        """Queue the booking's jobs; a queue that cannot be reached is left to the worker's sweep."""
        try:
            queue = await self._open_queue()
        except OSError as error:
            logger.warning("job queue unreachable; the callback sweep will queue the jobs", extra={"error": type(error).__name__})
            return 0
        try:
            return await queue_jobs(queue, record, self.policy, now)
        finally:
            await queue.close(close_connection_pool=True)

    async def active(self, sender_id: str) -> CallbackRecord | None:
        """The conversation's booked call, if any."""
        return await asyncio.to_thread(self.store.active_for_sender, sender_id)

    async def cancel(self, record: CallbackRecord, now: datetime) -> CallbackRecord:
        """Cancel a booked call; its queued reminder then finds it cancelled and sends nothing."""
        return await asyncio.to_thread(self.store.cancel, record.key, now)



def list_callbacks(
    store: CallbackStore,
    *,
    due_by: datetime | None = None,
    states: tuple[str, ...] = ("booked", "missed"),
    ticket_number: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[WorkItem]:
    """The agents' work queue: calls to make (booked, and missed ones still to catch up), earliest first.

    ``due_by`` keeps the calls whose slot starts by then (e.g. now + 15 minutes); ``limit``
    and ``offset`` page through the rest.
    """
    return store.work_queue(due_by=due_by, states=states, ticket_number=ticket_number, limit=limit, offset=offset)


def mark_done(store: CallbackStore, key: str, *, actor: str, now: datetime, note: str | None = None) -> CallbackRecord:
    """Record that the agent ``actor`` made the call ``key``; it then leaves the work queue and is never flagged missed.

    The ticket's history records the call with ``note``. Raises
    :class:`~bot.callbacks.store.CallbackNotFound` or
    :class:`~bot.callbacks.store.CallbackStateError` (a cancelled or rescheduled call).
    """
    return store.mark_done(key, actor=actor, now=now, note=note)


def pushed_offer(
    texts: Mapping[str, str], *, ticket_number: str, slots: Sequence[Slot], zone_: ZoneInfo
) -> OutboundMessage:
    """A call-back offer to push through the outbound path (e.g. a ticket nearing its SLA breach).

    ``texts`` holds :data:`PUSHED_OFFER_RESPONSES` read from domain.yml
    (:func:`bot.callbacks.jobs.domain_texts`). Each button names its slot and the ticket,
    so the chat can book it outside the offer form, for this conversation's ticket only.
    """
    labels = [slot_label(slot, zone_) for slot in slots]
    numbered = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, start=1))
    text = texts[PUSHED_OFFER_RESPONSES[0]].format(ticket_number=ticket_number, slots_list=numbered, customer_timezone=zone_.key)
    buttons = [Button(label, pushed_payload(slot.iso(), ticket_number)) for slot, label in zip(slots, labels)]
    buttons.append(Button(texts[PUSHED_OFFER_RESPONSES[1]], pushed_payload("none", ticket_number)))
    return OutboundMessage(text, tuple(buttons))


def pushed_payload(value: str, ticket_number: str) -> str:
    """A pushed offer's button: choose_option with the ``callback_for`` and ``callback_time`` entities."""
    return "/choose_option" + json.dumps({"callback_for": ticket_number, "callback_time": value}, separators=(",", ":"))


async def push_offer(
    callbacks: Callbacks,
    outbound: Outbound,
    texts: Mapping[str, str],
    *,
    ticket_number: str,
    sender_id: str,
    now: datetime,
    reason: str = "breach",
    customer_timezone: str | None = None,
) -> DeliveryRecord | None:
    """Push a call-back offer for a ticket (by default: it nears its SLA breach), once per ticket and reason,
    its times on the customer's clock (``customer_timezone``, else the policy's default).

    The key ``callback:<ticket>:offer:<reason>`` makes a repeated call send nothing new.
    Returns None when there is no free slot to offer. Raises
    :class:`~bot.outbound.PermanentDeliveryError` for a channel that cannot push (REST).
    """
    slots = await callbacks.offer(now)
    if not slots:
        return None
    message = pushed_offer(
        texts, ticket_number=ticket_number, slots=slots, zone_=customer_zone(customer_timezone, callbacks.policy)
    )
    conversation = Conversation.from_sender_id(sender_id)
    return await outbound.deliver(conversation, message, key=f"callback:{ticket_number}:offer:{reason}")


async def offer_near_breach(jobs: CallbackJobs, number: str) -> DeliveryRecord | None:
    """Apologise and offer call-back times to the customer of an open ticket about to breach its
    SLA (the watcher has just flagged it to the supervisors), so they are not left waiting in
    silence; once per ticket. Nothing when a call is already booked for them, when there is no
    free time, or on a channel that cannot push (REST: the supervisors' flag stands alone)."""
    ticket = await asyncio.to_thread(jobs.tickets.get, number)
    if ticket is None or ticket.status not in OPEN_STATES:
        return None
    booked = await asyncio.to_thread(jobs.store.active_for_sender, ticket.sender_id)
    if booked is not None and booked.ticket_number == number:
        return None
    service = Callbacks(jobs.store, jobs.policy, _no_booking_here)
    try:
        return await push_offer(
            service, jobs.outbound, jobs.texts, ticket_number=number, sender_id=ticket.sender_id,
            now=jobs.clock(), customer_timezone=ticket.customer_timezone,
        )
    except PermanentDeliveryError:
        logger.info("near-breach call-back offer not pushed: the channel cannot push", extra={"ticket_number": number})
        return None


async def _no_booking_here() -> ArqRedis:
    """An offer books nothing, so it never opens the job queue."""
    raise RuntimeError("a pushed offer books nothing")
