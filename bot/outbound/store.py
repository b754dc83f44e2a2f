"""The durable record of every outbound message: SQL is the record, the job queue may lose things.

One row per idempotency key. A row is written before any job is queued, so a message
the queue loses (Redis flushed, a worker killed) is still ``pending`` here and the
sweep queues it again. Callers get frozen :class:`DeliveryRecord` values, never ORM
objects. Methods are synchronous and short; async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, UniqueConstraint, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import write_session
from bot.models import Base, CustomerText, UTCDateTime, _quoted
from bot.outbound.messages import Button, Conversation, OutboundMessage

DELIVERY_STATUSES = ("pending", "sent", "failed")
TRANSCRIPT_STATUSES = ("pending", "appended", "failed")
MAX_KEY_LENGTH = 200
MAX_ERROR_LENGTH = 200


class OutboundMessageRow(Base):
    """One message on its way to a customer (or refused, or failed), and its Rasa transcript entry."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(f"status IN ({_quoted(DELIVERY_STATUSES)})", name="status"),
        CheckConstraint(
            f"transcript_status IS NULL OR transcript_status IN ({_quoted(TRANSCRIPT_STATUSES)})",
            name="transcript_status",
        ),
        Index(None, "status", "next_attempt_at"),
        Index(None, "transcript_status"),
    )

    id = Column(Integer, primary_key=True)
    key = Column(String(MAX_KEY_LENGTH), nullable=False)
    channel = Column(String(16), nullable=False)
    address = Column(CustomerText, nullable=False)
    text = Column(CustomerText, nullable=False)
    buttons = Column(JSON, nullable=False)
    author = Column(String(16), nullable=False)
    author_name = Column(CustomerText)
    slots = Column(JSON)
    status = Column(String(16), nullable=False)
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    last_error = Column(String(MAX_ERROR_LENGTH))
    next_attempt_at = Column(UTCDateTime, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    sent_at = Column(UTCDateTime)
    transcript_status = Column(String(16))
    transcript_attempts = Column(Integer, nullable=False, default=0, server_default="0")


@dataclass(frozen=True)
class DeliveryRecord:
    """Where one outbound message stands. ``last_error`` is a reason code, never message text."""

    key: str
    conversation: Conversation
    message: OutboundMessage
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    transcript_status: str | None
    transcript_attempts: int


def utcnow() -> datetime:
    """Now, timezone-aware, as every stored moment must be."""
    return datetime.now(timezone.utc)


def _record(row: OutboundMessageRow) -> DeliveryRecord:
    return DeliveryRecord(
        key=row.key,
        conversation=Conversation(row.channel, row.address),
        message=OutboundMessage(
            text=row.text,
            buttons=tuple(Button(b["title"], b["payload"]) for b in row.buttons),
            author=row.author,
            author_name=row.author_name,
            slots=tuple((name, value) for name, value in (row.slots or {}).items()),
        ),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
        transcript_status=row.transcript_status,
        transcript_attempts=row.transcript_attempts,
    )


def check_key(key: str) -> None:
    """Refuse a key that cannot be stored; the key is chosen by code (``followup:CX-1:72h``)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key must have 1 to {MAX_KEY_LENGTH} characters")


class OutboundStore:
    """Outbound messages in SQL; see the module docstring."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def record(
        self,
        conversation: Conversation,
        message: OutboundMessage,
        key: str,
        *,
        refusal: str | None = None,
    ) -> tuple[DeliveryRecord, bool]:
        """The row for ``key``, written now if new: ``(record, created)``.

        With ``refusal`` a new row is written already ``failed`` with that reason (a
        channel that cannot push). A key seen before returns its row untouched, whatever
        the new arguments say, so a repeated call never sends anything twice.
        """
        check_key(key)
        existing = self.get(key)
        if existing is not None:
            return existing, False
        now = utcnow()
        row = OutboundMessageRow(
            key=key,
            channel=conversation.channel,
            address=conversation.address,
            text=message.text,
            buttons=[{"title": b.title, "payload": b.payload} for b in message.buttons],
            author=message.author,
            author_name=message.author_name,
            slots=dict(message.slots) or None,
            status="failed" if refusal else "pending",
            attempts=0,
            last_error=refusal,
            next_attempt_at=now,
            created_at=now,
            transcript_attempts=0,
        )
        try:
            with write_session(self._sessions) as session:
                session.add(row)
                session.flush()
                return _record(row), True
        except IntegrityError:
            # Another process wrote the same key between our read and our insert.
            existing = self.get(key)
            if existing is None:
                raise
            return existing, False

    def get(self, key: str) -> DeliveryRecord | None:
        """The row for ``key``, or None."""
        with self._sessions() as session:
            row = session.execute(select(OutboundMessageRow).where(OutboundMessageRow.key == key)).scalar_one_or_none()
            return None if row is None else _record(row)

    def claim_attempt(self, key: str, now: datetime) -> tuple[DeliveryRecord | None, bool]:
        """Count one more send attempt if the row is pending and due: ``(record, claimed)``.

        The attempt is counted before the send, so a worker that dies mid-send still uses
        up an attempt and a message that kills workers ends ``failed``, not in a loop.
        """
        with write_session(self._sessions) as session:
            row = self._locked(session, key)
            if row is None or row.status != "pending" or row.next_attempt_at > now:
                return (None if row is None else _record(row)), False
            row.attempts += 1
            session.flush()
            return _record(row), True

    def mark_sent(self, key: str, now: datetime) -> DeliveryRecord:
        """The customer has it; its transcript entry is now owed to Rasa."""
        return self._update(key, status="sent", sent_at=now, last_error=None, transcript_status="pending")

    def mark_retry(self, key: str, reason: str, next_attempt_at: datetime) -> DeliveryRecord:
        """A transient failure: stays pending until ``next_attempt_at``."""
        return self._update(key, last_error=reason[:MAX_ERROR_LENGTH], next_attempt_at=next_attempt_at)

    def mark_failed(self, key: str, reason: str) -> DeliveryRecord:
        """Given up for good, with the reason kept for the people who look at it."""
        return self._update(key, status="failed", last_error=reason[:MAX_ERROR_LENGTH])

    def claim_transcript(self, key: str) -> DeliveryRecord | None:
        """Count one more transcript attempt if one is owed; None when nothing is to do."""
        with write_session(self._sessions) as session:
            row = self._locked(session, key)
            if row is None or row.transcript_status != "pending":
                return None
            row.transcript_attempts += 1
            session.flush()
            return _record(row)

    def mark_transcript(self, key: str, status: str) -> DeliveryRecord:
        """The transcript entry was appended, or given up (``failed``)."""
        return self._update(key, transcript_status=status)

    def unfinished(self, limit: int) -> list[DeliveryRecord]:
        """Rows still owed a send or a transcript entry, oldest due first (what the sweep re-queues)."""
        query = (
            select(OutboundMessageRow)
            .where(
                or_(
                    OutboundMessageRow.status == "pending",
                    OutboundMessageRow.transcript_status == "pending",
                )
            )
            .order_by(OutboundMessageRow.next_attempt_at, OutboundMessageRow.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return [_record(row) for row in session.execute(query).scalars()]

    def _update(self, key: str, **values: Any) -> DeliveryRecord:
        with write_session(self._sessions) as session:
            row = self._locked(session, key)
            if row is None:
                raise LookupError(f"no outbound message with key {key!r}")
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return _record(row)

    @staticmethod
    def _locked(session: Session, key: str) -> OutboundMessageRow | None:
        """The row, locked for this transaction on PostgreSQL (SQLite's write lock is already held)."""
        query = select(OutboundMessageRow).where(OutboundMessageRow.key == key).with_for_update()
        return session.execute(query).scalar_one_or_none()
