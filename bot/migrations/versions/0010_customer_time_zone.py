"""The customer's time zone on the ticket, and the slots an outbound message sets in the chat.

``tickets.customer_timezone``: the IANA name the customer's channel sent (the web chat
sends the browser's), so the 72-hour survey's quiet hours are the customer's own; null
for tickets filed before, or from a channel that sends none (the default then applies).
``outbound_messages.slots``: what a message we send first opens in the conversation
(the survey's question), appended with its transcript entry; null for the rest.

Revision ID: 0010_customer_time_zone
Revises: 0009_handoffs
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_customer_time_zone"
down_revision = "0009_handoffs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("customer_timezone", sa.String(64)))
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("slots", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("slots")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("customer_timezone")
