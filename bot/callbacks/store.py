"""The callbacks table: SQL is the record of every booked call, whatever the job queue holds.

One row per booking, keyed ``callback:<ticket>:<n>``; rescheduling writes the next
``n`` and marks the earlier row ``rescheduled``, so a reminder queued for the old time
finds its row no longer booked and sends nothing.

**Capacity under concurrency.** A booking holds a *seat* (1..capacity) of its slot, and
``(slot_start, seat)`` is unique. Two processes booking the last seat at once both try
the same seat number; the database lets one insert through and refuses the other
(PostgreSQL makes the second wait for the first's commit, SQLite's write lock
serialises them), and the loser retries, finds the slot full and says so. Releasing a
booking (cancelled, rescheduled) clears its seat; NULL seats never clash.

Callers get frozen records, never ORM objects. Methods are synchronous and short;
async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.callbacks.slots import Slot
from bot.db import write_session
from bot.models import Base, CustomerText, Ticket, TicketEvent, UTCDateTime, _quoted

logger = logging.getLogger(__name__)

STATES = ("booked", "rescheduled", "cancelled", "done", "missed")
ACTIVE = ("booked",)
"""A booked call still owed to the customer."""
SEAT_HOLDERS = ("booked", "done", "missed")
"""States that keep their seat: a call made or missed still used the team's time."""
REMINDER_STATES = ("pending", "sent", "no_push", "too_late")
MAX_BOOKING_TRIES = 8
DONE_EVENT = "callback_done"
"""The ticket history entry written with a call marked done: which call, who made it, their note."""


class CallbackRow(Base):
    """One booked call back: who, for which ticket, when, and what became of it."""

    __tablename__ = "callbacks"
    __table_args__ = (
        UniqueConstraint("key"),
        UniqueConstraint("ticket_number", "seq"),
        UniqueConstraint("slot_start", "seat"),
        CheckConstraint(f"state IN ({_quoted(STATES)})", name="state"),
        CheckConstraint(f"reminder IN ({_quoted(REMINDER_STATES)})", name="reminder"),
        Index(None, "state", "slot_start"),
        Index(None, "channel", "sender_id"),
    )

    id = Column(Integer, primary_key=True)
    key = Column(String(64), nullable=False)
    ticket_number = Column(String(16), nullable=False)
    seq = Column(Integer, nullable=False)
    channel = Column(String(16), nullable=False)
    sender_id = Column(CustomerText, nullable=False)
    slot_start = Column(UTCDateTime, nullable=False)
    slot_end = Column(UTCDateTime, nullable=False)
    seat = Column(Integer)
    customer_timezone = Column(String(64), nullable=False)
    state = Column(String(16), nullable=False)
    reminder = Column(String(16), nullable=False, default="pending", server_default="pending")
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    done_at = Column(UTCDateTime)
    done_by = Column(String(64))


@dataclass(frozen=True)
class CallbackRecord:
    """Where one booked call stands."""

    key: str
    ticket_number: str
    seq: int
    channel: str
    sender_id: str
    slot_start: datetime
    slot_end: datetime
    customer_timezone: str
    state: str
    reminder: str
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    done_by: str | None

    @property
    def reminder_key(self) -> str:
        """The outbound key of this booking's reminder: one reminder per booking, ever."""
        return f"{self.key}:reminder"


@dataclass(frozen=True)
class WorkItem:
    """A callback as the agents' work queue shows it: the call and whom to call."""

    callback: CallbackRecord
    customer_name: str | None
    contact: str | None


class SlotFull(Exception):
    """Every seat of the slot is taken; offer another."""


class CallbackNotFound(Exception):
    """No callback has that key."""


class CallbackStateError(Exception):
    """The callback cannot make that move from the state it is in (e.g. done after cancelled)."""

    def __init__(self, key: str, state: str, target: str) -> None:
        super().__init__(f"callback {key} is {state}; it cannot become {target}")
        self.key, self.state, self.target = key, state, target


def callback_key(ticket_number: str, seq: int) -> str:
    """The business key of a ticket's ``seq``-th booking."""
    return f"callback:{ticket_number}:{seq}"


def _record(row: CallbackRow) -> CallbackRecord:
    return CallbackRecord(
        key=row.key,
        ticket_number=row.ticket_number,
        seq=row.seq,
        channel=row.channel,
        sender_id=row.sender_id,
        slot_start=row.slot_start,
        slot_end=row.slot_end,
        customer_timezone=row.customer_timezone,
        state=row.state,
        reminder=row.reminder,
        created_at=row.created_at,
        updated_at=row.updated_at,
        done_at=row.done_at,
        done_by=row.done_by,
    )


class CallbackStore:
    """Callbacks in SQL; see the module docstring."""

    def __init__(self, sessions: sessionmaker, *, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._sessions = sessions
        self._capacity = capacity

    def taken(self, start: datetime, end: datetime) -> dict[datetime, int]:
        """Seats taken per slot start for slots starting in ``[start, end)``."""
        with self._sessions() as session:
            rows = session.execute(
                select(CallbackRow.slot_start, func.count())
                .where(CallbackRow.slot_start >= start, CallbackRow.slot_start < end, CallbackRow.seat.is_not(None))
                .group_by(CallbackRow.slot_start)
            ).all()
        return {row[0]: row[1] for row in rows}

    def book(
        self,
        *,
        ticket_number: str,
        channel: str,
        sender_id: str,
        slot: Slot,
        customer_timezone: str,
        now: datetime,
    ) -> CallbackRecord:
        """Book ``slot`` for the ticket, replacing (rescheduling) its active booking if it has one.

        Raises :class:`SlotFull` when no seat is left. A seat lost to a concurrent booking
        is retried in a fresh transaction, which then sees that booking.
        """
        for _ in range(MAX_BOOKING_TRIES):
            try:
                record = self._book_once(ticket_number, channel, sender_id, slot, customer_timezone, now)
            except IntegrityError:
                logger.info("callback seat or number taken concurrently; retrying", extra={"ticket_number": ticket_number})
                continue
            logger.info(
                "callback booked",
                extra={"ticket_number": ticket_number, "callback_key": record.key, "slot_start": record.slot_start.isoformat()},
            )
            return record
        raise SlotFull(slot.iso())

    def _book_once(
        self, ticket_number: str, channel: str, sender_id: str, slot: Slot, customer_timezone: str, now: datetime
    ) -> CallbackRecord:
        with write_session(self._sessions) as session:
            earlier = session.scalars(
                select(CallbackRow).where(CallbackRow.ticket_number == ticket_number).with_for_update()
            ).all()
            seats = set(
                session.scalars(
                    select(CallbackRow.seat).where(CallbackRow.slot_start == slot.start, CallbackRow.seat.is_not(None))
                )
            )
            active = [row for row in earlier if row.state in ACTIVE]
            if any(row.slot_start == slot.start for row in active):
                return _record(active[0])
            free = [seat for seat in range(1, self._capacity + 1) if seat not in seats]
            if not free:
                raise SlotFull(slot.iso())
            for row in active:
                self._release(row, "rescheduled", now)
            seq = max((row.seq for row in earlier), default=0) + 1
            row = CallbackRow(
                key=callback_key(ticket_number, seq),
                ticket_number=ticket_number,
                seq=seq,
                channel=channel,
                sender_id=sender_id,
                slot_start=slot.start,
                slot_end=slot.end,
                seat=free[0],
                customer_timezone=customer_timezone,
                state="booked",
                reminder="pending",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _record(row)

    @staticmethod
    def _release(row: CallbackRow, state: str, now: datetime) -> None:
        row.state = state
        row.seat = None
        row.updated_at = now

    def get(self, key: str) -> CallbackRecord | None:
        """The booking ``key``, or None."""
        with self._sessions() as session:
            row = session.scalars(select(CallbackRow).where(CallbackRow.key == key)).one_or_none()
            return None if row is None else _record(row)

    def active_for_sender(self, sender_id: str) -> CallbackRecord | None:
        """The conversation's booked call (the latest), or None."""
        with self._sessions() as session:
            row = session.scalars(
                select(CallbackRow)
                .where(CallbackRow.sender_id == sender_id, CallbackRow.state.in_(ACTIVE))
                .order_by(CallbackRow.slot_start.desc())
                .limit(1)
            ).one_or_none()
            return None if row is None else _record(row)

    def cancel(self, key: str, now: datetime) -> CallbackRecord:
        """Cancel a booked call and free its seat; cancelling twice changes nothing."""
        return self._move(key, "cancelled", ("booked",), now, keep={"cancelled"})

    def mark_done(self, key: str, *, actor: str, now: datetime, note: str | None = None) -> CallbackRecord:
        """Record that the call was made (also after it was flagged missed); twice changes nothing.

        The ticket's history gets a ``callback_done`` entry (the call, ``actor``, ``note``) in
        the same transaction, so the agents see the call on the ticket exactly once.
        """
        return self._move(key, "done", ("booked", "missed"), now, actor=actor, note=note, keep={"done"})

    def mark_missed(self, key: str, now: datetime) -> CallbackRecord:
        """Flag a booked call as missed; any other state is left as it is."""
        return self._move(key, "missed", ("booked",), now, keep=set(STATES) - {"booked"})

    def _move(
        self,
        key: str,
        to: str,
        allowed_from: Iterable[str],
        now: datetime,
        *,
        actor: str | None = None,
        note: str | None = None,
        keep: set[str],
    ) -> CallbackRecord:
        with write_session(self._sessions) as session:
            row = session.scalars(select(CallbackRow).where(CallbackRow.key == key).with_for_update()).one_or_none()
            if row is None:
                raise CallbackNotFound(key)
            if row.state in keep:
                return _record(row)
            if row.state not in allowed_from:
                raise CallbackStateError(key, row.state, to)
            if to == "cancelled":
                self._release(row, to, now)
            else:
                row.state = to
                row.updated_at = now
            if to == "done":
                row.done_at, row.done_by = now, actor
                self._record_done(session, row, note)
            session.flush()
            record = _record(row)
        logger.info("callback state changed", extra={"callback_key": key, "to": to})
        return record

    @staticmethod
    def _record_done(session: Session, row: CallbackRow, note: str | None) -> None:
        """The ``callback_done`` history entry on the call's ticket (none when the ticket is unknown)."""
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == row.ticket_number))
        if ticket_id is None:
            return
        detail = {"callback": row.key, "slot_start": row.slot_start.isoformat(), "actor": row.done_by, "note": note}
        session.add(TicketEvent(ticket_id=ticket_id, kind=DONE_EVENT, at=row.done_at, detail=detail))

    def set_reminder(self, key: str, status: str, now: datetime) -> CallbackRecord:
        """Record what became of the booking's reminder (sent, no_push, too_late)."""
        if status not in REMINDER_STATES:
            raise ValueError(f"unknown reminder status {status!r}")
        with write_session(self._sessions) as session:
            row = session.scalars(select(CallbackRow).where(CallbackRow.key == key).with_for_update()).one()
            row.reminder = status
            row.updated_at = now
            session.flush()
            return _record(row)

    def booked(self, limit: int) -> list[CallbackRecord]:
        """Booked calls, earliest first: what the sweep makes sure has its jobs queued."""
        with self._sessions() as session:
            rows = session.scalars(
                select(CallbackRow).where(CallbackRow.state.in_(ACTIVE)).order_by(CallbackRow.slot_start).limit(limit)
            ).all()
            return [_record(row) for row in rows]

    def work_queue(
        self, *, due_by: datetime | None, states: tuple[str, ...], ticket_number: str | None, limit: int,
        offset: int = 0,
    ) -> list[WorkItem]:
        """Callbacks for the agents, earliest first, with the ticket's name and contact (a page of
        ``limit`` from ``offset``)."""
        query = (
            _WORK_ITEMS.where(*_work_conditions(due_by, states, ticket_number))
            .order_by(CallbackRow.slot_start, CallbackRow.id)
            .limit(limit)
            .offset(offset)
        )
        with self._sessions() as session:
            return [WorkItem(_record(row), name, contact) for row, name, contact in session.execute(query).all()]

    def work_item(self, key: str) -> WorkItem | None:
        """The booking ``key`` as the work queue shows it, whatever its state, or None."""
        with self._sessions() as session:
            found = session.execute(_WORK_ITEMS.where(CallbackRow.key == key)).one_or_none()
            return None if found is None else WorkItem(_record(found[0]), found[1], found[2])

    def count(self, *, due_by: datetime | None, states: tuple[str, ...], ticket_number: str | None) -> int:
        """How many callbacks :meth:`work_queue` has in all for these filters (for paging)."""
        query = select(func.count()).select_from(CallbackRow).where(*_work_conditions(due_by, states, ticket_number))
        with self._sessions() as session:
            return session.scalar(query) or 0


_WORK_ITEMS = select(CallbackRow, Ticket.customer_name, Ticket.contact).outerjoin(
    Ticket, Ticket.number == CallbackRow.ticket_number
)
"""A callback with its ticket's name and contact: what an agent needs to make the call."""


def _work_conditions(due_by: datetime | None, states: tuple[str, ...], ticket_number: str | None) -> list[Any]:
    conditions: list[Any] = [CallbackRow.state.in_(states)]
    if due_by is not None:
        conditions.append(CallbackRow.slot_start <= due_by)
    if ticket_number is not None:
        conditions.append(CallbackRow.ticket_number == ticket_number)
    return conditions
