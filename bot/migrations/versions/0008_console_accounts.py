"""Console accounts: the agents and supervisors who sign in to the agent console.

Revision ID: 0008_console_accounts
Revises: 0007_sla_watch
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_console_accounts"
down_revision = "0007_sla_watch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "console_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("password_changed_at", moment, nullable=False),
        sa.Column("last_sign_in_at", moment),
        sa.Column("disabled_at", moment),
        sa.PrimaryKeyConstraint("id", name="pk_console_accounts"),
        sa.UniqueConstraint("name", name="uq_console_accounts_name"),
        sa.CheckConstraint("role IN ('agent', 'supervisor')", name="ck_console_accounts_role"),
    )


def downgrade() -> None:
    op.drop_table("console_accounts")
