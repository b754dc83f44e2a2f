"""The agent's side of a hand-off: claim, reply, note, change the ticket's state, book a call back,
transfer, hand back, resolve; and the supervisors' assignment.

The console (``web/console/``) calls :class:`HandoffDesk`; it joins the hand-off queue, the
ticket store, the outbound path and the live notices, and talks to Rasa only through the
:class:`Assistant` it is given. Every message in either direction is kept in the ticket's
transcript (SQL); an agent's message reaches the customer through :meth:`Outbound.deliver`,
marked as from a person with the agent's display name.

**An agent's first reply claims.** Replying to a waiting hand-off claims it in the same
``UPDATE ... WHERE state = 'waiting'`` as the claim button, so two agents cannot both talk.

**Handing back says the greeting once.** Rasa's ``execute`` runs the greeting action and records
what it said in the customer's tracker; the desk delivers those messages with
``in_transcript=True``, so the outbound path sends them without appending them to the tracker a
second time (before, every hand-back left the greeting in the tracker twice).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.callbacks.service import Callbacks, customer_zone
from bot.callbacks.slots import Slot, is_bookable, slot_label
from bot.callbacks.store import CallbackRecord
from bot.db import write_session
from bot.errors import BotError, TicketNotFound
from bot.handoff.access import agent_ref
from bot.handoff.notices import HandoffNotices
from bot.handoff.store import AGENTS_QUEUE, QUEUES, HandoffRecord, HandoffStore, HandoffTaken
from bot.models import Ticket, TicketEvent
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Button, Conversation, OutboundMessage, PermanentDeliveryError
from bot.tickets import TicketRecord, TicketStore

logger = logging.getLogger(__name__)

NOTE_EVENT = "agent_note"
"""A private note in the ticket's history: for the team, never shown to the customer."""
TRANSFER_EVENT = "handoff_transferred"
CALLBACK_BOOKED_EVENT = "callback_booked"
"""An agent booked a call back for the customer from the console."""
CALLBACK_BOOKED_RESPONSE = "utter_callback_booked"
RESUME_ACTION = "utter_anything_else"
"""What the assistant says when a person hands the conversation back: it asks what else it can do."""
DELIVERY_KEY_PREFIX = "handoff:"
"""Every message the desk delivers is keyed ``handoff:<id>:...``: an agent's reply, the greeting on hand-back."""


def delivered_by_desk(event: Mapping[str, Any]) -> bool:
    """Whether a Rasa event is the outbound path's copy of a message the desk delivered.

    Its words are kept already: an agent's reply in the ticket's transcript under the agent's name,
    the greeting on hand-back as Rasa's own event of the action that said it. Reading the
    conversation into a transcript again (a second hand-off) must skip these copies.
    """
    metadata = event.get("metadata") or {}
    return event.get("event") == "bot" and str(metadata.get("outbound_key", "")).startswith(DELIVERY_KEY_PREFIX)


class SlotUnavailable(BotError):
    """The moment is not a bookable call-back slot (out of hours, too soon, or too far ahead)."""


class Assistant(Protocol):
    """Rasa's HTTP API, as far as handing back needs it."""

    async def resume(self, sender_id: str, action: str) -> list[dict[str, Any]]:
        """Unpause the conversation, run ``action``, and return the messages it produced."""


@dataclass(frozen=True)
class Agent:
    """The person at the console: sign-in name and the name the customer sees."""

    name: str
    display_name: str

    @property
    def ref(self) -> str:
        return agent_ref(self.name)


class HandoffDesk:
    """See the module docstring. Times are passed in, so tests and the app's clock agree."""

    def __init__(self, store: HandoffStore, tickets: TicketStore, sessions: sessionmaker, outbound: Outbound,
                 notices: HandoffNotices, assistant: Assistant, callbacks: Callbacks | None = None,
                 callback_texts: Mapping[str, str] | None = None) -> None:
        """``callbacks`` and ``callback_texts`` (``utter_callback_booked`` from domain.yml) let agents book calls."""
        self.store = store
        self._tickets = tickets
        self._sessions = sessions
        self._outbound = outbound
        self._notices = notices
        self._assistant = assistant
        self.callbacks = callbacks
        self._callback_texts = callback_texts or {}

    async def claim(self, handoff_id: int, agent: Agent, now: datetime, *, supervisor: bool = False) -> HandoffRecord:
        """Take a waiting hand-off (an agent from the agents' queue, a supervisor from either);
        :class:`HandoffTaken` (naming who has it) when someone was first."""
        queues = QUEUES if supervisor else (AGENTS_QUEUE,)
        record = await asyncio.to_thread(self.store.claim, handoff_id, agent=agent.ref, now=now, queues=queues)
        await self._notices.changed(record, "claimed", now)
        return record

    async def reply(self, handoff_id: int, agent: Agent, text: str, now: datetime, *, supervisor: bool = False) -> HandoffRecord:
        """Send the agent's message to the customer and keep it in the transcript; a waiting
        hand-off is claimed first (the reply is the claim). Each message gets a fresh delivery key
        (kept on its transcript line): two identical replies are two messages."""
        record = await asyncio.to_thread(self.store.get, handoff_id)
        if record.state == "waiting":
            record = await self.claim(handoff_id, agent, now, supervisor=supervisor)
        if record.state != "claimed" or record.agent != agent.ref:
            raise HandoffTaken(f"hand-off {handoff_id} is {record.state} ({record.agent})")
        key = f"{DELIVERY_KEY_PREFIX}{handoff_id}:agent:{secrets.token_hex(8)}"
        line = {"sender": "agent", "agent": agent.ref, "agent_name": agent.display_name, "text": text,
                "timestamp": now.isoformat(), "handoff_id": handoff_id, "outbound_key": key}
        await asyncio.to_thread(self._tickets.append_transcript, record.ticket_number, [line])
        message = OutboundMessage(text=text, author="agent", author_name=agent.display_name)
        await self._outbound.deliver(Conversation.from_sender_id(record.sender_id), message, key=key)
        await self._notices.agent_message(record, line)
        return record

    async def transfer(self, handoff_id: int, by: Agent, to: Agent, now: datetime, *, supervisor: bool) -> HandoffRecord:
        """Pass a claimed conversation to another agent: an agent passes on their own, a supervisor anyone's.
        The move is noted in the ticket's history."""
        holder = None if supervisor else by.ref
        record = await asyncio.to_thread(self.store.transfer, handoff_id, to=to.ref, now=now, holder=holder)
        detail = {"actor": by.ref, "to": to.ref, "handoff_id": handoff_id}
        await asyncio.to_thread(self._add_event, record.ticket_number, TRANSFER_EVENT, detail, now)
        await self._notices.changed(record, "transferred", now)
        return record

    async def assign(self, handoff_id: int, by: Agent, to: Agent, now: datetime) -> HandoffRecord:
        """A supervisor gives a waiting or claimed conversation to ``to`` (the single UPDATE of
        :meth:`HandoffStore.assign`, which notes in the ticket's history whom it was taken from)."""
        record = await asyncio.to_thread(self.store.assign, handoff_id, to=to.ref, now=now, by=by.ref)
        await self._notices.changed(record, "assigned", now)
        return record

    async def change_status(self, handoff_id: int, agent: Agent, to: str, note: str | None, now: datetime) -> TicketRecord:
        """Move the hand-off's ticket to ``to`` along the lifecycle (:class:`InvalidTransition` when it
        may not go there from where it is), recorded with the agent as actor."""
        record = await asyncio.to_thread(self.store.get, handoff_id)
        return await asyncio.to_thread(self._tickets.transition, record.ticket_number, to, actor=agent.ref, now=now,
                                       note=note)

    async def callback_offer(self, handoff_id: int, now: datetime) -> tuple[list[Slot], ZoneInfo, CallbackRecord | None]:
        """The free call-back slots to offer this customer (the same slots the assistant offers), their
        time zone, and the call already booked for the conversation, if any."""
        callbacks = self._require_callbacks()
        record = await asyncio.to_thread(self.store.get, handoff_id)
        ticket = await asyncio.to_thread(self._tickets.get, record.ticket_number)
        zone_ = customer_zone(ticket.customer_timezone if ticket else None, callbacks.policy)
        return await callbacks.offer(now), zone_, await callbacks.active(record.sender_id)

    async def book_callback(self, handoff_id: int, agent: Agent, slot_start: datetime, now: datetime) -> CallbackRecord:
        """Book the free slot starting at ``slot_start`` for the customer (rescheduling a call already
        booked for the ticket), queue its reminder and missed-call check, tell the customer through the
        outbound path (``utter_callback_booked``) and keep that in the transcript and the history.

        :class:`SlotUnavailable` for a moment that is no slot (out of hours, too soon, past the
        horizon); :class:`bot.callbacks.SlotFull` when the slot filled up meanwhile."""
        callbacks = self._require_callbacks()
        slot = is_bookable(callbacks.policy, now, slot_start)
        if slot is None:
            raise SlotUnavailable(slot_start.isoformat())
        record = await asyncio.to_thread(self.store.get, handoff_id)
        ticket = await asyncio.to_thread(self._tickets.get, record.ticket_number)
        if ticket is None:
            raise TicketNotFound(record.ticket_number)
        zone_ = customer_zone(ticket.customer_timezone, callbacks.policy)
        booked = await asyncio.to_thread(
            callbacks.store.book, ticket_number=ticket.number, channel=record.channel, sender_id=record.sender_id,
            slot=slot, customer_timezone=zone_.key, now=now,
        )
        await callbacks.queue(booked, now)
        detail = {"actor": agent.ref, "callback": booked.key, "slot_start": booked.slot_start.isoformat(),
                  "handoff_id": handoff_id}
        await asyncio.to_thread(self._add_event, ticket.number, CALLBACK_BOOKED_EVENT, detail, now)
        text = self._callback_texts[CALLBACK_BOOKED_RESPONSE].format(
            ticket_number=ticket.number, slot_time=slot_label(slot, ZoneInfo(booked.customer_timezone)),
            reminder_minutes=callbacks.policy.reminder_minutes_before,
        )
        key = f"{booked.key}:booked"
        line = {"sender": "bot", "text": text, "timestamp": now.isoformat(), "handoff_id": handoff_id, "outbound_key": key}
        await asyncio.to_thread(self._tickets.append_transcript, ticket.number, [line])
        try:
            await self._outbound.deliver(Conversation.from_sender_id(record.sender_id), OutboundMessage(text=text), key=key)
        except PermanentDeliveryError:
            logger.info("call back booked for a conversation that cannot be pushed to", extra={"handoff_id": handoff_id})
        await self._notices.assistant_message(record, line)
        return booked

    def _require_callbacks(self) -> Callbacks:
        if self.callbacks is None or CALLBACK_BOOKED_RESPONSE not in self._callback_texts:
            raise RuntimeError("this desk was built without call backs")
        return self.callbacks

    async def note(self, handoff_id: int, agent: Agent, text: str, now: datetime) -> dict[str, Any]:
        """Add a private note to the hand-off's ticket history (never sent, never in the transcript)."""
        record = await asyncio.to_thread(self.store.get, handoff_id)
        detail = {"text": text, "actor": agent.ref, "handoff_id": handoff_id}
        await asyncio.to_thread(self._add_event, record.ticket_number, NOTE_EVENT, detail, now)
        return detail

    def notes(self, ticket_number: str) -> list[dict[str, Any]]:
        """The ticket's private notes, oldest first, each with when it was written."""
        return [{**event.detail, "at": event.at.isoformat()} for event in self._tickets.events(ticket_number)
                if event.kind == NOTE_EVENT]

    async def hand_back(self, handoff_id: int, agent: Agent, now: datetime) -> HandoffRecord:
        """End the hand-off as ``returned``, unpause the assistant and deliver what it says on resuming.

        Rasa's tracker already holds what the assistant said (``execute`` records it), so it is
        delivered ``in_transcript``: sent, not appended to the tracker again."""
        record = await asyncio.to_thread(self.store.end, handoff_id, state="returned", now=now)
        await self._notices.changed(record, "returned", now)
        messages = await self._assistant.resume(record.sender_id, RESUME_ACTION)
        conversation = Conversation.from_sender_id(record.sender_id)
        for index, message in enumerate(messages):
            buttons = tuple(Button(b["title"], b["payload"]) for b in message.get("buttons") or ())
            outbound = OutboundMessage(text=message["text"], buttons=buttons)
            try:
                await self._outbound.deliver(conversation, outbound, key=f"{DELIVERY_KEY_PREFIX}{handoff_id}:resume:{index}",
                                             in_transcript=True)
            except PermanentDeliveryError:
                logger.info("hand-back greeting not pushed: the channel cannot push", extra={"handoff_id": handoff_id})
        logger.info("hand-off returned to the assistant", extra={"handoff_id": handoff_id, "actor": agent.ref})
        return record

    async def resolve(self, handoff_id: int, agent: Agent, note: str | None, now: datetime) -> HandoffRecord:
        """Resolve the ticket (which schedules its 72-hour follow-up) and hand the conversation back."""
        record = await asyncio.to_thread(self.store.get, handoff_id)
        await asyncio.to_thread(self._tickets.transition, record.ticket_number, "resolved", actor=agent.ref, now=now,
                                note=note)
        return await self.hand_back(handoff_id, agent, now)

    def _add_event(self, number: str, kind: str, detail: dict[str, Any], now: datetime) -> None:
        with write_session(self._sessions) as session:
            ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == number))
            if ticket_id is None:
                raise TicketNotFound(number)
            session.add(TicketEvent(ticket_id=ticket_id, kind=kind, at=now, detail=detail))
