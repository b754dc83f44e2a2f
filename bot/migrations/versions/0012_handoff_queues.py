"""Hand-off queues: which queue a waiting hand-off is in (the agents' or the supervisors'), and
since when it is the supervisors'.

A conversation nobody claimed within ``supervisors.unclaimed_to_supervisors_after_s``
(settings/handoff.yml) moves from the agents' queue to the supervisors' (the worker's sweep,
``bot/handoff/jobs.py``). Existing rows are in the agents' queue.

Revision ID: 0012_handoff_queues
Revises: 0011_followup_batches
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_handoff_queues"
down_revision = "0011_followup_batches"
branch_labels = None
depends_on = None

QUEUES = "'agents', 'supervisors'"


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("queue", sa.String(16), nullable=False, server_default="agents"))
        batch.add_column(sa.Column("to_supervisors_at", sa.DateTime(timezone=True)))
        batch.create_check_constraint("ck_handoffs_queue", f"queue IN ({QUEUES})")


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint("ck_handoffs_queue", type_="check")
        batch.drop_column("to_supervisors_at")
        batch.drop_column("queue")
