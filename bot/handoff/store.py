"""The hand-off queue in SQL: one row per time a conversation was handed to people.

A row is ``waiting`` until an agent claims it (``claimed``), and ends ``returned`` (handed
back to the assistant) or ``closed``. A hand-off asked for while nobody takes live chats is
``deferred`` from the start: the customer was offered a call back or told when someone will
reply, and the row tells the team why the ticket is theirs.

**One live hand-off per conversation.** While a row is waiting or claimed its ``live_sender``
holds the conversation's sender id, and that column is unique (NULLs never clash), so a
second hand-off of the same conversation finds the first instead of queueing twice, even
from two processes at once. **One winner per claim.** A claim is one ``UPDATE ... WHERE
state = 'waiting'``: of two agents clicking at the same instant, the database lets exactly
one change the row.

Callers get frozen records, never ORM objects. Methods are synchronous and short; async
callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, UniqueConstraint, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from bot.db import write_session
from bot.domain_config import PRIORITIES
from bot.errors import BotError
from bot.lifecycle import check_actor
from bot.models import Base, CustomerText, Ticket, TicketEvent, UTCDateTime, _quoted

logger = logging.getLogger(__name__)

STATES = ("waiting", "claimed", "deferred", "returned", "closed")
QUEUES = ("agents", "supervisors")
"""Where a waiting hand-off waits: every agent's queue, or the supervisors' (nobody claimed it in time)."""
AGENTS_QUEUE, SUPERVISORS_QUEUE = QUEUES
TO_SUPERVISORS_EVENT = "handoff_to_supervisors"
ASSIGN_EVENT = "handoff_assigned"
"""A supervisor gave the conversation to an account (from the queue, or from another agent); the
entry names who had it before (``from``)."""
"""The ticket history entry of a conversation moved to the supervisors' queue, unclaimed."""
LIVE_STATES = ("waiting", "claimed")
"""A person is, or is about to be, in the conversation: the assistant stays silent."""
ENDS = ("returned", "closed")


class HandoffRow(Base):
    """One hand-off: whose conversation, which ticket, why, how urgent, and what became of it."""

    __tablename__ = "handoffs"
    __table_args__ = (
        UniqueConstraint("live_sender"),
        CheckConstraint(f"state IN ({_quoted(STATES)})", name="state"),
        CheckConstraint(f"priority IN ({_quoted(PRIORITIES)})", name="priority"),
        CheckConstraint(f"queue IN ({_quoted(QUEUES)})", name="queue"),
        Index(None, "state", "priority", "created_at"),
        Index(None, "ticket_number"),
        Index(None, "claimed_at"),
    )

    id = Column(Integer, primary_key=True)
    ticket_number = Column(String(16), nullable=False)
    channel = Column(String(64), nullable=False)
    sender_id = Column(CustomerText, nullable=False)
    live_sender = Column(CustomerText)
    """The sender id while the hand-off is waiting or claimed, NULL otherwise (see the module docstring)."""
    reasons = Column(JSON, nullable=False)
    """The rules that fired: ``[{"rule": <id in settings/handoff.yml>, "evidence": <what it saw>}]``."""
    priority = Column(String(8), nullable=False)
    state = Column(String(16), nullable=False)
    agent = Column(String(128))
    wait_estimate_s = Column(Integer)
    """The wait the customer was told, in seconds; NULL when we could not say (or nobody was online)."""
    created_at = Column(UTCDateTime, nullable=False)
    claimed_at = Column(UTCDateTime)
    ended_at = Column(UTCDateTime)
    updated_at = Column(UTCDateTime, nullable=False)
    queue = Column(String(16), nullable=False, default=AGENTS_QUEUE, server_default=AGENTS_QUEUE)
    """``agents`` or ``supervisors``: see :data:`QUEUES`."""
    to_supervisors_at = Column(UTCDateTime)
    """When an unclaimed hand-off was moved to the supervisors' queue (NULL: never)."""


@dataclass(frozen=True)
class HandoffRequest:
    """What the assistant knows when it hands a conversation over."""

    ticket_number: str
    channel: str
    sender_id: str
    reasons: list[dict[str, Any]]
    priority: str


@dataclass(frozen=True)
class HandoffRecord:
    """Where one hand-off stands."""

    id: int
    ticket_number: str
    channel: str
    sender_id: str
    reasons: list[dict[str, Any]]
    priority: str
    state: str
    agent: str | None
    wait_estimate_s: int | None
    created_at: datetime
    claimed_at: datetime | None
    ended_at: datetime | None
    queue: str = AGENTS_QUEUE
    to_supervisors_at: datetime | None = None

    @property
    def rule_ids(self) -> list[str]:
        """The ids of the rules that brought the conversation to people."""
        return [reason["rule"] for reason in self.reasons]


class HandoffNotFound(BotError):
    """No hand-off has that id."""


class HandoffTaken(BotError):
    """The hand-off is no longer waiting (another agent claimed it first, or it ended)."""


def _record(row: HandoffRow) -> HandoffRecord:
    return HandoffRecord(
        id=row.id, ticket_number=row.ticket_number, channel=row.channel, sender_id=row.sender_id,
        reasons=list(row.reasons), priority=row.priority, state=row.state, agent=row.agent,
        wait_estimate_s=row.wait_estimate_s, created_at=row.created_at, claimed_at=row.claimed_at,
        ended_at=row.ended_at, queue=row.queue, to_supervisors_at=row.to_supervisors_at,
    )


class HandoffStore:
    """Hand-offs in SQL; see the module docstring."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def open(self, request: HandoffRequest, *, state: str, now: datetime, wait_estimate_s: int | None = None) -> HandoffRecord:
        """Record a hand-off as ``waiting`` or ``deferred``; a conversation that already has a live
        hand-off gets that one back unchanged (it is queued once)."""
        if state not in ("waiting", "deferred"):
            raise ValueError(f"a hand-off starts waiting or deferred, not {state!r}")
        if request.priority not in PRIORITIES:
            raise ValueError(f"unknown priority {request.priority!r}")
        row = HandoffRow(
            ticket_number=request.ticket_number, channel=request.channel, sender_id=request.sender_id,
            live_sender=request.sender_id if state in LIVE_STATES else None, reasons=request.reasons,
            priority=request.priority, state=state, wait_estimate_s=wait_estimate_s, created_at=now, updated_at=now,
        )
        try:
            with write_session(self._sessions) as session:
                session.add(row)
                session.flush()
                record = _record(row)
        except IntegrityError:
            existing = self.live_for_sender(request.sender_id)
            if existing is None:
                raise
            logger.info("conversation already handed over", extra={"handoff_id": existing.id, "ticket_number": existing.ticket_number})
            return existing
        logger.info(
            "conversation handed over",
            extra={"handoff_id": record.id, "ticket_number": record.ticket_number, "state": state,
                   "priority": record.priority, "rules": ",".join(record.rule_ids)},
        )
        return record

    def get(self, handoff_id: int) -> HandoffRecord:
        """The hand-off with this id, or :class:`HandoffNotFound`."""
        with self._sessions() as session:
            row = session.get(HandoffRow, handoff_id)
            if row is None:
                raise HandoffNotFound(handoff_id)
            return _record(row)

    def live_for_sender(self, sender_id: str) -> HandoffRecord | None:
        """The conversation's hand-off that is waiting or claimed, if any."""
        with self._sessions() as session:
            row = session.scalars(select(HandoffRow).where(HandoffRow.live_sender == sender_id)).one_or_none()
            return None if row is None else _record(row)

    def queue(self, queues: tuple[str, ...] = QUEUES) -> list[HandoffRecord]:
        """The waiting hand-offs in ``queues`` (an agent's: the agents' queue; a supervisor's: both),
        most urgent first, then longest waiting first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(HandoffRow)
                .where(HandoffRow.state == "waiting", HandoffRow.queue.in_(queues))
                .order_by(HandoffRow.priority, HandoffRow.created_at, HandoffRow.id)  # "P1" sorts first
            ).all()
            return [_record(row) for row in rows]

    def claimed(self, agent: str | None = None) -> list[HandoffRecord]:
        """The claimed hand-offs (only ``agent``'s, "agent:<name>", if given), most urgent first, then
        claimed longest ago: who is talking to whom, for the supervisors' view and an agent's own list."""
        held = (HandoffRow.agent == agent,) if agent is not None else ()
        with self._sessions() as session:
            rows = session.scalars(
                select(HandoffRow)
                .where(HandoffRow.state == "claimed", *held)
                .order_by(HandoffRow.priority, HandoffRow.claimed_at, HandoffRow.id)
            ).all()
            return [_record(row) for row in rows]

    def live_for_tickets(self, numbers: list[str]) -> dict[str, HandoffRecord]:
        """The waiting or claimed hand-off of each of these tickets that has one."""
        if not numbers:
            return {}
        with self._sessions() as session:
            rows = session.scalars(
                select(HandoffRow).where(HandoffRow.ticket_number.in_(numbers), HandoffRow.state.in_(LIVE_STATES))
            ).all()
            return {row.ticket_number: _record(row) for row in rows}

    def ahead_of(self, priority: str, now: datetime) -> int:
        """How many waiting hand-offs an agent would take before a new one of ``priority`` opened ``now``."""
        urgent_enough = [p for p in PRIORITIES if PRIORITIES.index(p) <= PRIORITIES.index(priority)]
        with self._sessions() as session:
            count = session.scalar(
                select(func.count()).select_from(HandoffRow).where(
                    HandoffRow.state == "waiting", HandoffRow.priority.in_(urgent_enough), HandoffRow.created_at <= now
                )
            )
            return int(count or 0)

    def recent_waits(self, since: datetime) -> list[float]:
        """Seconds each hand-off claimed at or after ``since`` had waited, oldest claim first."""
        with self._sessions() as session:
            rows = session.execute(
                select(HandoffRow.created_at, HandoffRow.claimed_at)
                .where(HandoffRow.claimed_at.is_not(None), HandoffRow.claimed_at >= since)
                .order_by(HandoffRow.claimed_at)
            ).all()
            return [max((claimed - created).total_seconds(), 0.0) for created, claimed in rows]

    def claim(self, handoff_id: int, *, agent: str, now: datetime, queues: tuple[str, ...] = QUEUES) -> HandoffRecord:
        """Give a waiting hand-off to ``agent`` ("agent:<name>") if it waits in one of ``queues`` (an
        agent claims from the agents' queue only); :class:`HandoffTaken` if it is not waiting there any more."""
        check_actor(agent)
        record = self._move(handoff_id, ("waiting",), {"state": "claimed", "agent": agent, "claimed_at": now, "updated_at": now},
                            (HandoffRow.queue.in_(queues),), "" if queues == QUEUES else f"in the {' or '.join(queues)} queue")
        logger.info("hand-off claimed", extra={"handoff_id": handoff_id, "ticket_number": record.ticket_number})
        return record

    def assign(self, handoff_id: int, *, to: str, now: datetime, by: str) -> HandoffRecord:
        """The supervisor ``by`` gives a waiting or claimed hand-off to ``to`` (one UPDATE, like a claim);
        a hand-off that was waiting counts as claimed now. The ticket's history notes who had it before,
        in the same transaction, so concurrent reassignments are recorded in the order they applied.
        :class:`HandoffTaken` when it has ended."""
        check_actor(to)
        check_actor(by)
        values = {"state": "claimed", "agent": to, "updated_at": now,
                  "claimed_at": func.coalesce(HandoffRow.claimed_at, literal(now, UTCDateTime()))}
        history = (ASSIGN_EVENT, {"actor": by, "to": to, "handoff_id": handoff_id})
        record = self._move(handoff_id, LIVE_STATES, values, history=(history, now))
        logger.info("hand-off assigned", extra={"handoff_id": handoff_id, "ticket_number": record.ticket_number})
        return record

    def move_unclaimed(self, *, waited_since: datetime, now: datetime, limit: int = 500) -> list[HandoffRecord]:
        """Move every hand-off still waiting in the agents' queue since ``waited_since`` or earlier to the
        supervisors' queue, noting it in each ticket's history; the hand-offs moved.

        One transaction: the rows are locked (PostgreSQL skips rows another sweep holds; SQLite's write
        lock serialises sweeps), changed with ``UPDATE ... WHERE state = 'waiting' AND queue = 'agents'``
        and their history written, so a hand-off is moved and noted once however many sweeps run,
        and one claimed meanwhile stays with its agent."""
        with write_session(self._sessions) as session:
            ids = session.scalars(
                select(HandoffRow.id)
                .where(HandoffRow.state == "waiting", HandoffRow.queue == AGENTS_QUEUE, HandoffRow.created_at <= waited_since)
                .order_by(HandoffRow.created_at, HandoffRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            session.execute(
                update(HandoffRow)
                .where(HandoffRow.id.in_(ids), HandoffRow.state == "waiting", HandoffRow.queue == AGENTS_QUEUE)
                .values(queue=SUPERVISORS_QUEUE, to_supervisors_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            rows = session.scalars(
                select(HandoffRow).where(HandoffRow.id.in_(ids), HandoffRow.to_supervisors_at == now)
            ).all()
            tickets = dict(session.execute(
                select(Ticket.number, Ticket.id).where(Ticket.number.in_({row.ticket_number for row in rows}))
            ).all())
            for row in rows:
                if row.ticket_number in tickets:
                    waited = int((now - row.created_at).total_seconds())
                    session.add(TicketEvent(ticket_id=tickets[row.ticket_number], kind=TO_SUPERVISORS_EVENT, at=now,
                                            detail={"handoff_id": row.id, "waited_s": waited, "actor": "system"}))
            moved = [_record(row) for row in rows]
        for record in moved:
            logger.info("unclaimed hand-off moved to the supervisors", extra={"handoff_id": record.id,
                                                                              "ticket_number": record.ticket_number})
        return moved

    def transfer(self, handoff_id: int, *, to: str, now: datetime, holder: str | None = None) -> HandoffRecord:
        """Give a claimed hand-off to the agent ``to``; with ``holder``, only while that agent still
        has it (an agent passes on their own conversation; a supervisor passes on anyone's).
        :class:`HandoffTaken` when it is no longer claimed (or no longer the holder's)."""
        check_actor(to)
        held = (HandoffRow.agent == holder,) if holder is not None else ()
        record = self._move(handoff_id, ("claimed",), {"agent": to, "updated_at": now}, held, f"by {holder or 'anyone'}")
        logger.info("hand-off transferred", extra={"handoff_id": handoff_id, "ticket_number": record.ticket_number})
        return record

    def end(self, handoff_id: int, *, state: str, now: datetime) -> HandoffRecord:
        """End a hand-off as ``returned`` (to the assistant) or ``closed``, freeing its conversation
        for the next one; :class:`HandoffTaken` if it had already ended."""
        if state not in ENDS:
            raise ValueError(f"a hand-off ends {' or '.join(ENDS)}, not {state!r}")
        values = {"state": state, "live_sender": None, "ended_at": now, "updated_at": now}
        return self._move(handoff_id, ("waiting", "claimed", "deferred"), values)

    def _move(
        self, handoff_id: int, from_states: tuple[str, ...], values: dict[str, Any],
        held: tuple[Any, ...] = (), held_text: str = "",
        history: tuple[tuple[str, dict[str, Any]], datetime] | None = None,
    ) -> HandoffRecord:
        """Change a hand-off in one ``UPDATE ... WHERE state IN from_states`` (and the ``held``
        conditions, which ``held_text`` words for the error): of two moves from the same state at once,
        the database lets exactly one through. ``history`` ((kind, detail), time) is written into the
        ticket's history in the same transaction, with ``from``: the agent who had it before."""
        with write_session(self._sessions) as session:
            before = None
            if history is not None:
                before = session.execute(
                    select(HandoffRow.agent).where(HandoffRow.id == handoff_id).with_for_update()
                ).one_or_none()
            changed = session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id, HandoffRow.state.in_(from_states), *held)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            row = session.get(HandoffRow, handoff_id)
            if row is None:
                raise HandoffNotFound(handoff_id)
            if changed != 1:
                wanted = " or ".join(from_states) + (f" {held_text}" if held_text else "")
                raise HandoffTaken(f"hand-off {handoff_id} is {row.state}, not {wanted}")
            if history is not None and before is not None:
                (kind, detail), at = history
                ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == row.ticket_number))
                if ticket_id is not None:
                    session.add(TicketEvent(ticket_id=ticket_id, kind=kind, at=at, detail={**detail, "from": before[0]}))
            return _record(row)
