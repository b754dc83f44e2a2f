"""Hand-offs: the queue of conversations handed to people, one row per hand-off.

Revision ID: 0009_handoffs
Revises: 0008_console_accounts (written as 0008 after 0007_sla_watch; re-chained after the console's 0008 when main was merged)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_handoffs"
down_revision = "0008_console_accounts"
branch_labels = None
depends_on = None

STATES = "'waiting', 'claimed', 'deferred', 'returned', 'closed'"
PRIORITIES = "'P1', 'P2', 'P3', 'P4'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("live_sender", sa.Text()),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(128)),
        sa.Column("wait_estimate_s", sa.Integer()),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("claimed_at", moment),
        sa.Column("ended_at", moment),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.UniqueConstraint("live_sender", name="uq_handoffs_live_sender"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_handoffs_state"),
        sa.CheckConstraint(f"priority IN ({PRIORITIES})", name="ck_handoffs_priority"),
    )
    op.create_index("ix_handoffs_state_priority_created_at", "handoffs", ["state", "priority", "created_at"])
    op.create_index("ix_handoffs_ticket_number", "handoffs", ["ticket_number"])
    op.create_index("ix_handoffs_claimed_at", "handoffs", ["claimed_at"])


def downgrade() -> None:
    op.drop_table("handoffs")
