"""Telling the customer that their ticket is being worked on, or resolved, through the outbound path.

A ticket's latest status change to ``in_progress`` or ``resolved`` is announced once, in the
conversation that filed it, with :meth:`bot.outbound.Outbound.deliver` under the key
``status:<ticket>:<event id>``. The outbound row is the record: a change whose key has a
row was announced (or refused, for a channel that cannot push), so the API after a move
and the worker's sweep can both call :meth:`StatusNotices.deliver_pending` and the
customer still hears the news once. Only the ticket's latest status change is announced,
and only while the ticket is still in that state and the change is younger than the
notice window: news that has been overtaken, or is old, is never sent.

A notice recorded while it was news can be overtaken before it is sent (the worker was
down, or a retry was waiting, and meanwhile the ticket was resolved or withdrawn). The
worker asks :meth:`StatusNotices.overtaken` right before each send
(:meth:`bot.outbound.Outbound.withhold`), so the customer never reads "we are working on
it" after their ticket was closed. The check runs on rows the send job has already
claimed, so the delivery protocol is unchanged: an overtaken notice is recorded
``failed`` with reason ``overtaken`` instead of being sent, once, and never retried. A
move made between that check and the send itself (milliseconds) can still let the older
notice through; its own notice follows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import aliased, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.models import Ticket, TicketEvent
from bot.outbound.delivery import Outbound
from bot.outbound.messages import Conversation, OutboundMessage, PermanentDeliveryError
from bot.outbound.store import OutboundMessageRow
from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

NOTICE_RESPONSES: Mapping[str, str] = {
    "in_progress": "utter_status_update_in_progress",
    "resolved": "utter_status_update_resolved",
}
"""The status changes the customer is told of, and the response in domain.yml that tells them."""


KEY_PREFIX = "status:"


def notice_key(number: str, event_id: int) -> str:
    """The outbound key of a status notice: ``status:<ticket>:<event id>``."""
    return f"{KEY_PREFIX}{number}:{event_id}"


def _event_id(key: str) -> int | None:
    """The status event a notice key names, or None for a key that is not a notice's."""
    number, _, event_id = key.removeprefix(KEY_PREFIX).rpartition(":")
    return int(event_id) if key.startswith(KEY_PREFIX) and number and event_id.isdigit() else None


def _still_news() -> ColumnElement:
    """A status event that is its ticket's latest, to a state the ticket is still in (joined with Ticket)."""
    later = aliased(TicketEvent)
    latest = (
        select(func.max(later.id)).where(later.ticket_id == TicketEvent.ticket_id, later.kind == "status").scalar_subquery()
    )
    return (TicketEvent.kind == "status") & (TicketEvent.id == latest) & (Ticket.status == TicketEvent.detail["to"].as_string())


def load_notice_texts(domain_path: Path = PROJECT_ROOT / "domain.yml") -> dict[str, str]:
    """Each announced status's sentence (``{ticket_number}`` to fill), from domain.yml, their only home.

    A missing response fails here, at start-up, rather than in front of a customer.
    """
    responses = yaml.safe_load(domain_path.read_text(encoding="utf-8"))["responses"]
    missing = [name for name in NOTICE_RESPONSES.values() if name not in responses]
    if missing:
        raise ValueError(f"domain.yml lacks the status notices' responses: {', '.join(missing)}")
    return {status: responses[name][0]["text"] for status, name in NOTICE_RESPONSES.items()}


@dataclass(frozen=True)
class StatusNotice:
    """A status change still to be announced."""

    ticket_number: str
    event_id: int
    status: str
    sender_id: str

    @property
    def key(self) -> str:
        return notice_key(self.ticket_number, self.event_id)


class StatusNotices:
    """Finds unannounced status changes in SQL and announces them."""

    def __init__(self, sessions: sessionmaker, texts: Mapping[str, str], *, window: timedelta, batch: int = 500) -> None:
        self._sessions = sessions
        self._texts = dict(texts)
        self._window = window
        self._batch = batch

    def pending(self, now: datetime, ticket: str | None = None) -> list[StatusNotice]:
        """Unannounced latest status changes to an announced state within the window (of ``ticket`` if given)."""
        key = literal(KEY_PREFIX) + Ticket.number + literal(":") + cast(TicketEvent.id, String)
        query = (
            select(Ticket.number, TicketEvent.id, Ticket.status, Ticket.sender_id)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .outerjoin(OutboundMessageRow, OutboundMessageRow.key == key)
            .where(
                _still_news(),
                Ticket.status.in_(sorted(NOTICE_RESPONSES)),
                TicketEvent.at >= now - self._window,
                OutboundMessageRow.id.is_(None),
            )
            .order_by(TicketEvent.id)
            .limit(self._batch)
        )
        if ticket is not None:
            query = query.where(Ticket.number == ticket)
        with self._sessions() as session:
            return [StatusNotice(*row) for row in session.execute(query).all()]

    def overtaken(self, keys: Sequence[str]) -> set[str]:
        """The notice keys among ``keys`` whose news no longer holds: the ticket has moved since
        (or is gone). Keys that are not status notices' are never in the answer."""
        wanted = {key: event_id for key in keys if (event_id := _event_id(key)) is not None}
        if not wanted:
            return set()
        query = (
            select(Ticket.number, TicketEvent.id)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(TicketEvent.id.in_(set(wanted.values())), _still_news())
        )
        with self._sessions() as session:
            current = {notice_key(number, event_id) for number, event_id in session.execute(query).all()}
        return set(wanted) - current

    def message(self, notice: StatusNotice) -> OutboundMessage:
        """What the customer reads."""
        return OutboundMessage(self._texts[notice.status].format(ticket_number=notice.ticket_number))

    async def deliver_pending(self, outbound: Outbound, now: datetime, ticket: str | None = None) -> list[str]:
        """Announce every pending change (of ``ticket`` if given); the keys handed to the outbound path.

        A conversation that cannot be pushed to (a REST back end's) is recorded as refused
        by the outbound path and not tried again.
        """
        pending = await asyncio.to_thread(self.pending, now, ticket)
        delivered = []
        for notice in pending:
            try:
                await outbound.deliver(Conversation.from_sender_id(notice.sender_id), self.message(notice), key=notice.key)
            except PermanentDeliveryError as error:
                logger.info("status notice not sent: the channel cannot push", extra={"key": notice.key, "reason": error.reason})
                continue
            delivered.append(notice.key)
        if delivered:
            logger.info("status notices handed to the outbound path", extra={"notices": len(delivered)})
        return delivered
