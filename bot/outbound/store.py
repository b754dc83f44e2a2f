"""The durable record of every outbound message: SQL is the record, the job queue may lose things.

One row per idempotency key. A row is written before any job is queued, so a message
the queue loses (Redis flushed, a worker killed) is still owed here and the sweep
queues it again. ``next_attempt_at`` says when the row's next piece of work is due:
its send while ``pending``, its transcript entry once ``sent``. A job that takes a row
(:meth:`OutboundStore.claim_sends`; :meth:`OutboundStore.mark_sent` for the transcript
entry of a message it has just sent; :meth:`OutboundStore.claim_transcripts`) counts the
attempt and moves ``next_attempt_at`` a lease ahead in the same statement, so no other
job takes it while the first works on it; a job that dies leaves it due again when the
lease ends. Rows are claimed, marked and read in batches, one statement per
batch. Callers get frozen :class:`DeliveryRecord` values, never ORM objects. Methods
are synchronous and short; async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, UniqueConstraint, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.db import write_session
from bot.models import Base, CustomerText, UTCDateTime, _quoted
from bot.outbound.messages import Button, Conversation, OutboundMessage, Outgoing

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


def _record(row: Mapping[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        key=row["key"],
        conversation=Conversation(row["channel"], row["address"]),
        message=OutboundMessage(
            text=row["text"],
            buttons=tuple(Button(b["title"], b["payload"]) for b in row["buttons"]),
            author=row["author"],
            author_name=row["author_name"],
            slots=tuple((name, value) for name, value in (row["slots"] or {}).items()),
        ),
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        transcript_status=row["transcript_status"],
        transcript_attempts=row["transcript_attempts"],
    )


def check_key(key: str) -> None:
    """Refuse a key that cannot be stored; the key is chosen by code (``followup:CX-1:72h``)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key must have 1 to {MAX_KEY_LENGTH} characters")


_messages = OutboundMessageRow.__table__
_UNFINISHED = or_(_messages.c.status == "pending", _messages.c.transcript_status == "pending")
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
"""``INSERT ... ON CONFLICT DO NOTHING`` of each dialect: a key already recorded keeps its row."""


class OutboundStore:
    """Outbound messages in SQL; see the module docstring."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def record_many(self, items: Sequence[Outgoing], *, refusals: Mapping[str, str]) -> list[DeliveryRecord]:
        """The rows for the items' keys, in the items' order, writing those that are new.

        A new row for a channel named in ``refusals`` is written already ``failed`` with
        that reason (a channel that cannot push). A key seen before keeps its row,
        whatever the new item says, so a repeated call never sends anything twice; two
        processes recording the same key at once both get the one row.
        """
        for item in items:
            check_key(item.key)
        now = utcnow()
        rows = [
            {
                "key": item.key,
                "channel": item.conversation.channel,
                "address": item.conversation.address,
                "text": item.message.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in item.message.buttons],
                "author": item.message.author,
                "author_name": item.message.author_name,
                "slots": dict(item.message.slots) or None,
                "status": "failed" if item.conversation.channel in refusals else "pending",
                "attempts": 0,
                "last_error": refusals.get(item.conversation.channel),
                "next_attempt_at": now,
                "created_at": now,
                "transcript_attempts": 0,
            }
            for item in sorted(items, key=lambda item: item.key)  # one lock order for every writer: no deadlock
        ]
        with write_session(self._sessions) as session:
            insert = _INSERT[session.get_bind().dialect.name]
            session.execute(insert(_messages).on_conflict_do_nothing(index_elements=["key"]), rows)
            found = self._select(session, _messages.c.key.in_([item.key for item in items]))
        by_key = {record.key: record for record in found}
        return [by_key[item.key] for item in items]

    def get(self, key: str) -> DeliveryRecord | None:
        """The row for ``key``, or None."""
        with self._sessions() as session:
            found = self._select(session, _messages.c.key == key)
            return found[0] if found else None

    def claim_sends(self, keys: Sequence[str], now: datetime, lease: timedelta) -> list[DeliveryRecord]:
        """Take the keys' rows that are pending and due, counting one more send attempt each.

        The attempt is counted before the send, so a worker that dies mid-send still uses
        up an attempt and a message that kills workers ends ``failed``, not in a loop.
        Rows another job holds are skipped, not waited for.
        """
        return self._claim(keys, now, lease, _messages.c.status == "pending", "attempts")

    def mark_sent(self, keys: Sequence[str], now: datetime, lease: timedelta) -> None:
        """The customers have them; their transcript entries are now owed to Rasa, and taken by the
        job that sent them (one attempt counted, held ``lease``), which appends them next."""
        self._update_many(
            keys, status="sent", sent_at=now, last_error=None, transcript_status="pending",
            transcript_attempts=_messages.c.transcript_attempts + 1, next_attempt_at=now + lease,
        )

    def mark_retry(self, key: str, reason: str, next_attempt_at: datetime) -> DeliveryRecord:
        """A transient failure: stays pending until ``next_attempt_at``."""
        return self._update(key, last_error=reason[:MAX_ERROR_LENGTH], next_attempt_at=next_attempt_at)

    def mark_failed(self, key: str, reason: str) -> DeliveryRecord:
        """Given up for good, with the reason kept for the people who look at it."""
        return self._update(key, status="failed", last_error=reason[:MAX_ERROR_LENGTH])

    def mark_failed_many(self, keys: Sequence[str], reason: str) -> None:
        """Give up the keys' messages for good, each with ``reason`` (messages withheld before their send)."""
        self._update_many(keys, status="failed", last_error=reason[:MAX_ERROR_LENGTH])

    def claim_transcripts(self, keys: Sequence[str], now: datetime, lease: timedelta) -> list[DeliveryRecord]:
        """Take the keys' rows whose transcript entry is owed and due (a retry, or a job that died after
        marking them sent), counting one more attempt each."""
        return self._claim(keys, now, lease, _messages.c.transcript_status == "pending", "transcript_attempts")

    def mark_transcripts(self, keys: Sequence[str], status: str) -> None:
        """The transcript entries were appended, or given up (``failed``)."""
        self._update_many(keys, transcript_status=status)

    def retry_transcript(self, key: str, next_attempt_at: datetime) -> DeliveryRecord:
        """Rasa did not take the entry; it is owed again at ``next_attempt_at``."""
        return self._update(key, next_attempt_at=next_attempt_at)

    def next_due(self, keys: Sequence[str]) -> datetime | None:
        """When the earliest of the keys' unfinished rows is due; None when all are finished."""
        query = select(func.min(_messages.c.next_attempt_at)).where(_messages.c.key.in_(keys), _UNFINISHED)
        with self._sessions() as session:
            return session.execute(query).scalar()

    def unfinished(self, limit: int, *, due_by: datetime | None = None) -> list[DeliveryRecord]:
        """Rows still owed a send or a transcript entry (due by ``due_by`` if given), oldest due first."""
        condition = _UNFINISHED if due_by is None else (_UNFINISHED & (_messages.c.next_attempt_at <= due_by))
        query = select(_messages).where(condition).order_by(_messages.c.next_attempt_at, _messages.c.id).limit(limit)
        with self._sessions() as session:
            return [_record(row) for row in session.execute(query).mappings()]

    def _claim(
        self, keys: Sequence[str], now: datetime, lease: timedelta, owed: ColumnElement, counter: str
    ) -> list[DeliveryRecord]:
        """Lock the owed, due rows no other job holds, count an attempt in ``counter`` and lease them."""
        query = (
            select(_messages)
            .where(_messages.c.key.in_(keys), owed, _messages.c.next_attempt_at <= now)
            .with_for_update(skip_locked=True)
        )
        with write_session(self._sessions) as session:
            rows = session.execute(query).mappings().all()
            if not rows:
                return []
            session.execute(
                update(_messages)
                .where(_messages.c.id.in_([row["id"] for row in rows]))
                .values({counter: _messages.c[counter] + 1, "next_attempt_at": now + lease})
            )
        return [_record({**row, counter: row[counter] + 1, "next_attempt_at": now + lease}) for row in rows]

    def _update_many(self, keys: Sequence[str], **values: Any) -> None:
        with write_session(self._sessions) as session:
            session.execute(update(_messages).where(_messages.c.key.in_(keys)).values(**values))

    def _update(self, key: str, **values: Any) -> DeliveryRecord:
        with write_session(self._sessions) as session:
            session.execute(update(_messages).where(_messages.c.key == key).values(**values))
            found = self._select(session, _messages.c.key == key)
        if not found:
            raise LookupError(f"no outbound message with key {key!r}")
        return found[0]

    @staticmethod
    def _select(session: Session, condition: ColumnElement) -> list[DeliveryRecord]:
        return [_record(row) for row in session.execute(select(_messages).where(condition)).mappings()]
