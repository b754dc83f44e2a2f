"""Follow-ups and survey answers: the record of every 72-hour satisfaction survey.

Revision ID: 0005_followups
Revises: 0004_lifecycle
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_followups"
down_revision = "0004_lifecycle"
branch_labels = None
depends_on = None

STATES = "'scheduled', 'sent', 'reminded', 'answered', 'unanswered', 'cancelled'"


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolved_at", moment, nullable=False),
        sa.Column("survey_due_at", moment, nullable=False),
        sa.Column("due_at", moment, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sent_at", moment),
        sa.Column("reminded_at", moment),
        sa.Column("answered_at", moment),
        sa.Column("finished_at", moment),
        sa.Column("cancel_reason", sa.String(32)),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_followups"),
        sa.UniqueConstraint("key", name="uq_followups_key"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_followups_state"),
    )
    op.create_index("ix_followups_state_due_at", "followups", ["state", "due_at"])
    op.create_index("ix_followups_ticket_number", "followups", ["ticket_number"])
    op.create_index("ix_followups_survey_due_at", "followups", ["survey_due_at"])
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("followup_id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(16), nullable=False),
        sa.Column("rating", sa.Integer()),
        sa.Column("solved", sa.Boolean()),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_survey_answers"),
        sa.UniqueConstraint("followup_id", name="uq_survey_answers_followup_id"),
        sa.ForeignKeyConstraint(
            ["followup_id"], ["followups.id"], name="fk_survey_answers_followup_id_followups", ondelete="CASCADE"
        ),
        sa.CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_survey_answers_rating"),
    )
    op.create_index("ix_survey_answers_ticket_number", "survey_answers", ["ticket_number"])


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_table("followups")
