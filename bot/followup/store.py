"""The follow-ups and survey answers in SQL: the business record the job queue executes.

One ``followups`` row per resolution, named by its business key
(``followup:<ticket>:72h``). ``state`` says where it stands and ``due_at`` when its
next step is due (the survey, the reminder, or recording it unanswered); the queue is
only told to wake up then. One ``survey_answers`` row per answered follow-up.

:func:`on_ticket_status` is called by :meth:`bot.tickets.TicketStore.transition` inside
the ticket's own transaction, so a resolution and its follow-up are committed together
or not at all. Everything else is a :class:`FollowupStore` method: synchronous, short,
one transaction each, rows locked while they change; async callers use
``asyncio.to_thread``. The worker claims and advances follow-ups in batches, one
statement per batch (:meth:`FollowupStore.claim_due`, :meth:`FollowupStore.advance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from bot.db import write_session
from bot.followup.policy import FollowupPolicy
from bot.models import Base, CustomerText, UTCDateTime, _quoted
from bot.outbound.messages import Conversation
from bot.time_zones import known_time_zone

STATES = ("scheduled", "sent", "reminded", "answered", "unanswered", "cancelled")
"""scheduled: survey not yet handed to the outbound path; sent: survey recorded for delivery,
awaiting an answer; reminded: the one reminder recorded; answered, unanswered, cancelled: final."""

PENDING_STATES = ("scheduled", "sent", "reminded")
"""States with a next step due at ``due_at``."""

STEPS = {"scheduled": "survey", "sent": "reminder", "reminded": "unanswered"}
"""The step each pending state runs when due."""

PENDING = text(f"state IN ({_quoted(PENDING_STATES)})")
"""The pending rows, written out literally so that the planner matches the partial index on it."""

CANCELLED_BY_TICKET = ("reopened", "closed", "withdrawn")
"""A ticket moving to one of these before the survey went out cancels its pending follow-up."""

NO_SURVEY_REASONS = CANCELLED_BY_TICKET
"""Cancellations that mean no survey was owed (the rate's denominator leaves them out)."""


class FollowupRow(Base):
    """One satisfaction follow-up of one resolution of a ticket."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(f"state IN ({_quoted(STATES)})", name="state"),
        Index(None, "state", "due_at"),
        Index(None, "ticket_number"),
        Index(None, "survey_due_at"),
        Index("ix_followups_pending_due_at", "due_at", "id", postgresql_where=PENDING, sqlite_where=PENDING),
    )

    id = Column(Integer, primary_key=True)
    key = Column(String(64), nullable=False)
    ticket_number = Column(String(16), nullable=False)
    channel = Column(String(16), nullable=False)
    address = Column(CustomerText, nullable=False)
    sender_id = Column(CustomerText, nullable=False)
    time_zone = Column(String(64), nullable=False)
    state = Column(String(16), nullable=False)
    resolved_at = Column(UTCDateTime, nullable=False)
    survey_due_at = Column(UTCDateTime, nullable=False)
    due_at = Column(UTCDateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    sent_at = Column(UTCDateTime)
    reminded_at = Column(UTCDateTime)
    answered_at = Column(UTCDateTime)
    finished_at = Column(UTCDateTime)
    cancel_reason = Column(String(32))
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


class SurveyAnswerRow(Base):
    """What the customer answered to one follow-up's survey."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("followup_id"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating"),
        Index(None, "ticket_number"),
    )

    id = Column(Integer, primary_key=True)
    followup_id = Column(Integer, ForeignKey("followups.id", ondelete="CASCADE"), nullable=False)
    ticket_number = Column(String(16), nullable=False)
    rating = Column(Integer)
    solved = Column(Boolean)
    comment = Column(CustomerText)
    answered_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


@dataclass(frozen=True)
class Followup:
    """Where one follow-up stands (a detached copy of its row)."""

    key: str
    ticket_number: str
    conversation: Conversation
    sender_id: str
    time_zone: str
    state: str
    resolved_at: datetime
    survey_due_at: datetime
    due_at: datetime
    attempts: int
    sent_at: datetime | None
    reminded_at: datetime | None
    answered_at: datetime | None
    finished_at: datetime | None
    cancel_reason: str | None

    @property
    def step(self) -> str | None:
        """The step due at ``due_at`` ("survey", "reminder", "unanswered"), None when final."""
        return STEPS.get(self.state)

    def outbound_key(self, step: str) -> str:
        """The outbound path's idempotency key of this follow-up's survey or reminder."""
        return f"{self.key}:{step}"


@dataclass(frozen=True)
class SurveyAnswer:
    """A follow-up's recorded answer; None for parts not (yet) answered."""

    ticket_number: str
    rating: int | None
    solved: bool | None
    comment: str | None
    answered_at: datetime


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def window_end(moment: datetime, width: timedelta) -> datetime:
    """The end of the window of ``width`` holding ``moment``.

    Windows are ``(end - width, end]`` with ends on whole multiples of ``width`` since
    the epoch, so every process puts a moment in the same window, and a step due
    exactly on a window's end runs at once rather than a window later.
    """
    step = width // _MICROSECOND
    return _EPOCH + -(-((moment - _EPOCH) // _MICROSECOND) // step) * step * _MICROSECOND


def followup_key(ticket_number: str, policy: FollowupPolicy) -> str:
    """The business key of a ticket's follow-up: ``followup:<ticket>:72h``."""
    return f"followup:{ticket_number}:{policy.horizon_label}"


def _followup(row: Any) -> Followup:
    """The follow-up of an ORM row or a Core result row (both read by attribute)."""
    return Followup(
        key=row.key,
        ticket_number=row.ticket_number,
        conversation=Conversation(row.channel, row.address),
        sender_id=row.sender_id,
        time_zone=row.time_zone,
        state=row.state,
        resolved_at=row.resolved_at,
        survey_due_at=row.survey_due_at,
        due_at=row.due_at,
        attempts=row.attempts,
        sent_at=row.sent_at,
        reminded_at=row.reminded_at,
        answered_at=row.answered_at,
        finished_at=row.finished_at,
        cancel_reason=row.cancel_reason,
    )


def _answer(row: SurveyAnswerRow) -> SurveyAnswer:
    return SurveyAnswer(
        ticket_number=row.ticket_number, rating=row.rating, solved=row.solved,
        comment=row.comment, answered_at=row.answered_at,
    )


def on_ticket_status(
    session: Session, *, ticket_number: str, sender_id: str, to: str, now: datetime,
    policy: FollowupPolicy, time_zone: str | None = None,
) -> None:
    """Keep the ticket's follow-up in step with a status change, inside the caller's transaction.

    ``resolved`` schedules the survey (a resolution after a reopen schedules it again);
    ``reopened``, ``closed`` or ``withdrawn`` cancel a survey not yet sent. A ticket whose
    conversation cannot be pushed to (a REST back end) gets no follow-up row at all.
    """
    if to == "resolved":
        conversation = Conversation.from_sender_id(sender_id)
        if conversation.channel == "rest":
            return
        zone_name = known_time_zone(time_zone) or policy.default_time_zone
        due = policy.survey_due(now, zone_name)
        key = followup_key(ticket_number, policy)
        row = session.execute(select(FollowupRow).where(FollowupRow.key == key).with_for_update()).scalar_one_or_none()
        if row is None:
            row = FollowupRow(key=key, ticket_number=ticket_number, created_at=now, attempts=0)
            session.add(row)
        elif row.state not in ("scheduled", "cancelled"):
            return  # a survey already went out for this ticket; a second resolution asks nothing new
        row.channel, row.address, row.sender_id = conversation.channel, conversation.address, sender_id
        row.time_zone, row.state, row.resolved_at = zone_name, "scheduled", now
        row.survey_due_at = row.due_at = due
        row.cancel_reason = row.finished_at = None
        row.updated_at = now
    elif to in CANCELLED_BY_TICKET:
        rows = session.execute(
            select(FollowupRow)
            .where(FollowupRow.ticket_number == ticket_number, FollowupRow.state == "scheduled")
            .with_for_update()
        ).scalars()
        for row in rows:
            row.state, row.cancel_reason, row.finished_at, row.updated_at = "cancelled", to, now, now
    session.flush()


_followups = FollowupRow.__table__


class FollowupStore:
    """Follow-ups and answers in SQL; see the module docstring."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def get(self, key: str) -> Followup | None:
        """The follow-up named ``key``, or None."""
        with self.sessions() as session:
            row = session.execute(select(FollowupRow).where(FollowupRow.key == key)).scalar_one_or_none()
            return None if row is None else _followup(row)

    def for_ticket(self, ticket_number: str) -> Followup | None:
        """The ticket's follow-up (the newest if there were several horizons), or None."""
        with self.sessions() as session:
            row = session.execute(
                select(FollowupRow).where(FollowupRow.ticket_number == ticket_number).order_by(FollowupRow.id.desc())
            ).scalars().first()
            return None if row is None else _followup(row)

    def latest_for_sender(self, sender_id: str) -> Followup | None:
        """The newest follow-up whose survey went to this conversation, or None."""
        with self.sessions() as session:
            row = session.execute(
                select(FollowupRow)
                .where(FollowupRow.sender_id == sender_id, FollowupRow.sent_at.is_not(None))
                .order_by(FollowupRow.sent_at.desc(), FollowupRow.id.desc())
            ).scalars().first()
            return None if row is None else _followup(row)

    def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Followup]:
        """Take up to ``limit`` follow-ups with a step due at ``now``, oldest due first, counting an attempt each.

        The claimed rows' ``due_at`` moves ``lease`` ahead in the same transaction, so no
        other job takes them while this one works; one that dies leaves them due again
        when the lease ends. Rows another transaction holds are skipped (``SKIP LOCKED``
        on PostgreSQL; SQLite lets one writer in at a time). The follow-ups come back as
        they were when claimed (their step's own due time), the attempt counted.
        """
        query = (
            select(_followups).where(PENDING, _followups.c.due_at <= now)
            .order_by(_followups.c.due_at, _followups.c.id).limit(limit)
            .with_for_update(skip_locked=True)
        )
        with write_session(self.sessions) as session:
            rows = session.execute(query).all()
            if rows:
                session.execute(
                    update(_followups).where(_followups.c.id.in_([row.id for row in rows]))
                    .values(attempts=_followups.c.attempts + 1, due_at=now + lease)
                )
        return [replace(_followup(row), attempts=row.attempts + 1) for row in rows]

    def advance(self, keys: Sequence[str], step: str, now: datetime, next_due: datetime | None) -> int:
        """Record that ``step`` was done for the follow-ups ``keys``; how many moved (a row that moved on meanwhile does not).

        survey → sent (reminder due ``next_due``), reminder → reminded (expiry due
        ``next_due``), unanswered → unanswered (final).
        """
        expected = {v: k for k, v in STEPS.items()}[step]
        values: dict[str, Any] = {
            "survey": {"state": "sent", "sent_at": now},
            "reminder": {"state": "reminded", "reminded_at": now},
            "unanswered": {"state": "unanswered", "finished_at": now},
        }[step]
        if next_due is not None:
            values["due_at"] = next_due
        statement = (
            update(_followups).where(_followups.c.key.in_(keys), _followups.c.state == expected)
            .values(**values, updated_at=now)
        )
        with write_session(self.sessions) as session:
            return session.execute(statement).rowcount

    def cancel(self, key: str, reason: str, now: datetime) -> None:
        """Give up a pending follow-up for ``reason`` (a conversation that cannot be reached)."""
        with write_session(self.sessions) as session:
            row = self._locked(session, key)
            if row is not None and row.state in PENDING_STATES:
                row.state, row.cancel_reason, row.finished_at, row.updated_at = "cancelled", reason, now, now

    def due_windows(self, now: datetime, until: datetime, width: timedelta) -> list[datetime]:
        """The ends of the windows of ``width`` that hold a pending step due by ``until`` (see :func:`window_end`).

        A window's job runs at its end and takes every step due by then, so the steps
        already due at ``now`` count as one window, the one holding the earliest. One
        probe of the partial index per window, not a row per follow-up: a backlog of
        100,000 rows costs what its few hundred windows cost.
        """
        ends: list[datetime] = []
        after: datetime | None = None
        pending = select(_followups.c.due_at).where(PENDING, _followups.c.due_at <= until)
        with self.sessions() as session:
            while True:
                query = pending if after is None else pending.where(_followups.c.due_at > after)
                due = session.execute(query.order_by(_followups.c.due_at).limit(1)).scalar()
                if due is None:
                    return ends
                ends.append(window_end(due, width))
                after = max(ends[-1], now)

    def record_answer(
        self, key: str, now: datetime, *, rating: int | None = None, solved: bool | None = None,
        comment: str | None = None,
    ) -> tuple[SurveyAnswer | None, bool]:
        """Record one part of the answer: ``(answer, recorded)``; a part given before is kept, not overwritten.

        The first rating moves the follow-up to ``answered``. ``recorded`` is False when
        that part was already answered or the follow-up was never sent (nothing changes).
        """
        with write_session(self.sessions) as session:
            row = self._locked(session, key)
            if row is None or row.state not in ("sent", "reminded", "answered"):
                return None, False
            answer = session.execute(
                select(SurveyAnswerRow).where(SurveyAnswerRow.followup_id == row.id).with_for_update()
            ).scalar_one_or_none()
            if answer is None:
                if rating is None:
                    return None, False
                answer = SurveyAnswerRow(followup_id=row.id, ticket_number=row.ticket_number, answered_at=now)
                session.add(answer)
            parts = {"rating": rating, "solved": solved, "comment": comment}
            given = {name: value for name, value in parts.items() if value is not None}
            if any(getattr(answer, name) is not None for name in given):
                return _answer(answer), False
            for name, value in given.items():
                setattr(answer, name, value)
            answer.updated_at = now
            if row.state != "answered":
                row.state, row.answered_at, row.finished_at, row.updated_at = "answered", now, now, now
            session.flush()
            return _answer(answer), True

    def answer(self, key: str) -> SurveyAnswer | None:
        """The follow-up's answer, or None."""
        with self.sessions() as session:
            row = session.execute(
                select(SurveyAnswerRow).join(FollowupRow, FollowupRow.id == SurveyAnswerRow.followup_id)
                .where(FollowupRow.key == key)
            ).scalar_one_or_none()
            return None if row is None else _answer(row)

    @staticmethod
    def _locked(session: Session, key: str) -> FollowupRow | None:
        """The row, locked for this transaction on PostgreSQL (SQLite's write lock is already held)."""
        return session.execute(select(FollowupRow).where(FollowupRow.key == key).with_for_update()).scalar_one_or_none()
