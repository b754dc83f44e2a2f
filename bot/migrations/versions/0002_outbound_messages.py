"""Outbound messages: the durable record of every message sent to a customer unasked.

Revision ID: 0002_outbound
Revises: 0001
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outbound"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES = "'pending', 'sent', 'failed'"
TRANSCRIPT_STATUSES = "'pending', 'appended', 'failed'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("author_name", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(200)),
        sa.Column("next_attempt_at", moment, nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("sent_at", moment),
        sa.Column("transcript_status", sa.String(16)),
        sa.Column("transcript_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_outbound_messages"),
        sa.UniqueConstraint("key", name="uq_outbound_messages_key"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_outbound_messages_status"),
        sa.CheckConstraint(
            f"transcript_status IS NULL OR transcript_status IN ({TRANSCRIPT_STATUSES})",
            name="ck_outbound_messages_transcript_status",
        ),
    )
    op.create_index("ix_outbound_messages_status_next_attempt_at", "outbound_messages", ["status", "next_attempt_at"])
    op.create_index("ix_outbound_messages_transcript_status", "outbound_messages", ["transcript_status"])


def downgrade() -> None:
    op.drop_table("outbound_messages")
