"""The agent's side of a hand-off: claim, reply, note, hand back, resolve.

The console (``web/console/``) calls :class:`HandoffDesk`; it joins the hand-off queue, the
ticket store, the outbound path and the live notices, and talks to Rasa only through the
:class:`Assistant` it is given. Every message in either direction is kept in the ticket's
transcript (SQL); an agent's message reaches the customer through :meth:`Outbound.deliver`,
marked as from a person with the agent's display name.

**An agent's first reply claims.** Replying to a waiting hand-off claims it in the same
``UPDATE ... WHERE state = 'waiting'`` as the claim button, so two agents cannot both talk.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.db import write_session
from bot.handoff.access import agent_ref
from bot.handoff.notices import HandoffNotices
from bot.handoff.store import HandoffRecord, HandoffStore, HandoffTaken
from bot.models import Ticket, TicketEvent
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Button, Conversation, OutboundMessage
from bot.errors import TicketNotFound
from bot.tickets import TicketStore

logger = logging.getLogger(__name__)

NOTE_EVENT = "agent_note"
"""A private note in the ticket's history: for the team, never shown to the customer."""
TRANSFER_EVENT = "handoff_transferred"
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
                 notices: HandoffNotices, assistant: Assistant) -> None:
        self.store = store
        self._tickets = tickets
        self._sessions = sessions
        self._outbound = outbound
        self._notices = notices
        self._assistant = assistant

    async def claim(self, handoff_id: int, agent: Agent, now: datetime) -> HandoffRecord:
        """Take a waiting hand-off; :class:`HandoffTaken` (naming who has it) when someone was first."""
        record = await asyncio.to_thread(self.store.claim, handoff_id, agent=agent.ref, now=now)
        await self._notices.changed(record, "claimed", now)
        return record

    async def reply(self, handoff_id: int, agent: Agent, text: str, now: datetime) -> HandoffRecord:
        """Send the agent's message to the customer and keep it in the transcript; a waiting
        hand-off is claimed first (the reply is the claim). Each message gets a fresh delivery key
        (kept on its transcript line): two identical replies are two messages."""
        record = await asyncio.to_thread(self.store.get, handoff_id)
        if record.state == "waiting":
            record = await self.claim(handoff_id, agent, now)
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
        """End the hand-off as ``returned``, unpause the assistant and deliver what it says on resuming."""
        record = await asyncio.to_thread(self.store.end, handoff_id, state="returned", now=now)
        await self._notices.changed(record, "returned", now)
        messages = await self._assistant.resume(record.sender_id, RESUME_ACTION)
        conversation = Conversation.from_sender_id(record.sender_id)
        for index, message in enumerate(messages):
            buttons = tuple(Button(b["title"], b["payload"]) for b in message.get("buttons") or ())
            outbound = OutboundMessage(text=message["text"], buttons=buttons)
            await self._outbound.deliver(conversation, outbound, key=f"{DELIVERY_KEY_PREFIX}{handoff_id}:resume:{index}")
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
