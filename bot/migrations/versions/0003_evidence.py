"""Evidence: files customers sent (photos, PDFs), keyed by the conversation's sender id.

Revision ID: 0003_evidence
Revises: 0002_outbound
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_evidence"
down_revision = "0002_outbound"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("original_name", sa.Text()),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
    )
    op.create_index("ix_evidence_sender_id", "evidence", ["sender_id"])


def downgrade() -> None:
    op.drop_table("evidence")
