"""Callbacks: the record of every call back a customer booked, one row per booking.

Revision ID: 0006_callbacks
Revises: 0005_followups
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_callbacks"
down_revision = "0005_followups"
branch_labels = None
depends_on = None

STATES = "'booked', 'rescheduled', 'cancelled', 'done', 'missed'"
REMINDER_STATES = "'pending', 'sent', 'no_push', 'too_late'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("slot_start", moment, nullable=False),
        sa.Column("slot_end", moment, nullable=False),
        sa.Column("seat", sa.Integer()),
        sa.Column("customer_timezone", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reminder", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("done_at", moment),
        sa.Column("done_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
        sa.UniqueConstraint("key", name="uq_callbacks_key"),
        sa.UniqueConstraint("ticket_number", "seq", name="uq_callbacks_ticket_number_seq"),
        sa.UniqueConstraint("slot_start", "seat", name="uq_callbacks_slot_start_seat"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_callbacks_state"),
        sa.CheckConstraint(f"reminder IN ({REMINDER_STATES})", name="ck_callbacks_reminder"),
    )
    op.create_index("ix_callbacks_state_slot_start", "callbacks", ["state", "slot_start"])
    op.create_index("ix_callbacks_channel_sender_id", "callbacks", ["channel", "sender_id"])


def downgrade() -> None:
    op.drop_table("callbacks")
