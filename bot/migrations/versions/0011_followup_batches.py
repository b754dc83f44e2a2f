"""Follow-up batches: a partial index on the due time of the follow-ups still pending.

The worker claims the pending follow-ups due by now, oldest first, a batch per
statement, and its sweep finds the windows holding pending steps with one probe per
window; both read this index, which holds only the pending rows (a few days' worth),
not every follow-up ever sent.

Revision ID: 0011_followup_batches
Revises: 0010_customer_time_zone (written as 0008_followup_batches after 0007_sla_watch; re-chained after
main's 0008_console_accounts and 0009_handoffs)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_followup_batches"
down_revision = "0010_customer_time_zone"
branch_labels = None
depends_on = None

PENDING = sa.text("state IN ('scheduled', 'sent', 'reminded')")


def upgrade() -> None:
    op.create_index(
        "ix_followups_pending_due_at", "followups", ["due_at", "id"], postgresql_where=PENDING, sqlite_where=PENDING
    )


def downgrade() -> None:
    op.drop_index("ix_followups_pending_due_at", table_name="followups")
