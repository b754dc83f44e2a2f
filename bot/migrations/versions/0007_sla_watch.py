"""SLA watch: the checks the watcher runs per ticket (stage deadlines, supervisor escalation).

Tickets filed before this revision get their checks from the watcher's first sweep, so
nothing is back-filled here.

Revision ID: 0007_sla_watch
Revises: 0006_callbacks (re-chained after 0005/0006 when the branches are merged)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sla_watch"
down_revision = "0006_callbacks"
branch_labels = None
depends_on = None

CHECKS = "'classify', 'analyse', 'resolve', 'total', 'escalate'"
OUTCOMES = "'met', 'breached', 'escalated', 'not_needed', 'stopped'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "sla_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("check_name", sa.String(16), nullable=False),
        sa.Column("due_at", moment, nullable=False),
        sa.Column("done_at", moment),
        sa.Column("outcome", sa.String(16)),
        sa.PrimaryKeyConstraint("id", name="pk_sla_checks"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_sla_checks_ticket_id_tickets", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("ticket_id", "check_name", name="uq_sla_checks_ticket_id_check_name"),
        sa.CheckConstraint(f"check_name IN ({CHECKS})", name="ck_sla_checks_check_name"),
        sa.CheckConstraint(f"outcome IS NULL OR outcome IN ({OUTCOMES})", name="ck_sla_checks_outcome"),
    )
    op.create_index("ix_sla_checks_done_at_due_at", "sla_checks", ["done_at", "due_at"])


def downgrade() -> None:
    op.drop_table("sla_checks")
