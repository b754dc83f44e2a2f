"""Tickets and their event history.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "'open', 'in_progress', 'escalated', 'resolved', 'closed', 'withdrawn'"
CUSTOMER_TYPES = "'new', 'returning', 'vip', 'unknown'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("customer_type", sa.String(16), nullable=False, server_default="unknown"),
        sa.Column("customer_name", sa.Text()),
        sa.Column("contact", sa.Text()),
        sa.Column("contact_kind", sa.String(16)),
        sa.Column("complaint_product", sa.Text()),
        sa.Column("problem_description", sa.Text()),
        sa.Column("incident_date", sa.Date()),
        sa.Column("incident_date_text", sa.Text()),
        sa.Column("incident_location", sa.Text()),
        sa.Column("order_ref", sa.Text()),
        sa.Column("people_involved", sa.Text()),
        sa.Column("impact", sa.Text()),
        sa.Column("desired_outcome", sa.Text()),
        sa.Column("desired_outcome_kind", sa.String(32)),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("category_confidence", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("emotion_score", sa.Float(), nullable=False),
        sa.Column("chosen_option", sa.String(64)),
        sa.Column("offered_options", sa.JSON(), nullable=False),
        sa.Column("sla_classify_by", moment, nullable=False),
        sa.Column("sla_analyse_by", moment, nullable=False),
        sa.Column("sla_resolve_by", moment, nullable=False),
        sa.Column("sla_close_by", moment, nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("resolved_at", moment),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("number", name="uq_tickets_number"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_tickets_status"),
        sa.CheckConstraint(f"customer_type IN ({CUSTOMER_TYPES})", name="ck_tickets_customer_type"),
    )
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_category", "tickets", ["category"])
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_channel_sender_id", "tickets", ["channel", "sender_id"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", moment, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_events_ticket_id_tickets",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_table("tickets")
