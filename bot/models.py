"""The ticket tables: the durable record of every complaint and of what happened to it.

SQLAlchemy 1.4 (Rasa 3.6 pins it) in its 2.0 style. Only :mod:`bot.tickets` touches
these classes; everyone else gets plain records. The schema itself is created by the
Alembic migrations in ``bot/migrations``, which must stay in step with this module
(``tests/unit/test_migrations.py`` compares them).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator

from bot.lifecycle import STATES

STATUSES = STATES
"""Every ticket status; :mod:`bot.lifecycle` owns the list and the moves between them."""
CUSTOMER_TYPES = ("new", "returning", "vip", "unknown")


def _quoted(values: tuple[str, ...]) -> str:
    """An SQL ``IN`` list of fixed, code-owned words (never customer input)."""
    return ", ".join(f"'{value}'" for value in values)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Named constraints, so a later migration can refer to them on SQLite and PostgreSQL alike."""

mapper_registry = registry(metadata=metadata)
Base: Any = mapper_registry.generate_base()


class UTCDateTime(TypeDecorator):
    """A moment in UTC that comes back timezone-aware from SQLite as well as PostgreSQL.

    SQLite has no timezone type and would hand back naive values; a naive value going
    in is refused because nobody could tell later which clock it was read from.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetimes stored in the ticket store must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class CustomerText(TypeDecorator):
    """Unbounded text in the customer's own words, storable on every backend.

    PostgreSQL text cannot hold a NUL character, which a web client can send; it is
    replaced by U+FFFD so the rest of the message is kept rather than the write failing.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.replace("\x00", "\ufffd")


class Ticket(Base):
    """One complaint: what the customer told us, how it was triaged and its SLA deadlines."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("number"),
        CheckConstraint(f"status IN ({_quoted(STATUSES)})", name="status"),
        CheckConstraint(f"customer_type IN ({_quoted(CUSTOMER_TYPES)})", name="customer_type"),
        Index(None, "status"),
        Index(None, "category"),
        Index(None, "created_at"),
        Index(None, "channel", "sender_id"),
    )

    id = Column(Integer, primary_key=True)
    number = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)
    channel = Column(String(64), nullable=False)
    sender_id = Column(CustomerText, nullable=False)
    language = Column(String(16), nullable=False)
    customer_type = Column(String(16), nullable=False, default="unknown", server_default="unknown")
    customer_name = Column(CustomerText)
    contact = Column(CustomerText)
    contact_kind = Column(String(16))
    complaint_product = Column(CustomerText)
    problem_description = Column(CustomerText)
    incident_date = Column(Date)
    incident_date_text = Column(CustomerText)
    incident_location = Column(CustomerText)
    order_ref = Column(CustomerText)
    people_involved = Column(CustomerText)
    impact = Column(CustomerText)
    desired_outcome = Column(CustomerText)
    desired_outcome_kind = Column(String(32))
    narrative = Column(CustomerText, nullable=False)
    category = Column(String(32), nullable=False)
    category_confidence = Column(Float, nullable=False)
    severity = Column(String(16), nullable=False)
    priority = Column(String(8), nullable=False)
    emotion_score = Column(Float, nullable=False)
    chosen_option = Column(String(64))
    offered_options = Column(JSON, nullable=False)
    sla_classify_by = Column(UTCDateTime, nullable=False)
    sla_analyse_by = Column(UTCDateTime, nullable=False)
    sla_resolve_by = Column(UTCDateTime, nullable=False)
    sla_close_by = Column(UTCDateTime, nullable=False)
    transcript = Column(JSON, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    resolved_at = Column(UTCDateTime)
    repeat_of = Column(String(16))
    customer_timezone = Column(String(64))
    """The number of the same customer's earlier ticket this one repeats (same order, or within the window)."""



class TicketEvent(Base):
    """Something that happened to a ticket (created, status, note), kept for audit and reports."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index(None, "ticket_id"),)

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    kind = Column(String(32), nullable=False)
    at = Column(UTCDateTime, nullable=False)
    detail = Column(JSON, nullable=False)
