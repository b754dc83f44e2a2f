"""Ticket lifecycle: states new/acknowledged/reopened ("open" becomes "new"), repeat links, status history.

Existing rows are carried over: tickets "open" become "new"; history entries of kind
"status_changed" become "status" with ``actor`` null (nobody recorded who) and ``note``
always present; "open" inside history details becomes "new", so the history reads in
today's states.

Revision ID: 0004_lifecycle
Revises: 0003_evidence
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_lifecycle"
down_revision = "0003_evidence"
branch_labels = None
depends_on = None

OLD_STATUSES = "'open', 'in_progress', 'escalated', 'resolved', 'closed', 'withdrawn'"
NEW_STATUSES = "'new', 'acknowledged', 'in_progress', 'resolved', 'closed', 'reopened', 'escalated', 'withdrawn'"

_tickets = sa.table("tickets", sa.column("status", sa.String(16)))
_events = sa.table(
    "ticket_events", sa.column("id", sa.Integer()), sa.column("kind", sa.String(32)), sa.column("detail", sa.JSON())
)


def _rename(value: Any, old: str, new: str) -> Any:
    return new if value == old else value


def _rewrite_history(old_state: str, new_state: str, old_kind: str, new_kind: str) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_events.c.id, _events.c.kind, _events.c.detail).where(_events.c.kind.in_(["created", old_kind]))
    ).all()
    for row in rows:
        detail = dict(row.detail)
        kind = row.kind
        if kind == "created":
            detail["status"] = _rename(detail.get("status"), old_state, new_state)
        else:
            kind = new_kind
            detail["from"] = _rename(detail.get("from"), old_state, new_state)
            detail["to"] = _rename(detail.get("to"), old_state, new_state)
            if new_kind == "status":
                detail.setdefault("actor", None)
                detail.setdefault("note", None)
        connection.execute(sa.update(_events).where(_events.c.id == row.id).values(kind=kind, detail=detail))


@contextmanager
def _history_kept() -> Iterator[None]:
    """Keep ticket_events while SQLite rebuilds the tickets table.

    SQLite changes a CHECK constraint by copying the table and dropping the old one; with
    foreign keys on, that drop cascades to every history row (``ON DELETE CASCADE``), and the
    pragma cannot be switched off inside the migration's transaction. The rows are copied
    aside and put back. PostgreSQL alters the table in place and needs none of this.
    """
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE ticket_events_0004 AS SELECT * FROM ticket_events")
    yield
    op.execute("INSERT INTO ticket_events SELECT * FROM ticket_events_0004 WHERE id NOT IN (SELECT id FROM ticket_events)")
    op.execute("DROP TABLE ticket_events_0004")


def upgrade() -> None:
    with _history_kept():
        with op.batch_alter_table("tickets") as batch:
            batch.drop_constraint("ck_tickets_status", type_="check")
            batch.add_column(sa.Column("repeat_of", sa.String(16)))
        op.execute(sa.update(_tickets).where(_tickets.c.status == "open").values(status="new"))
        with op.batch_alter_table("tickets") as batch:
            batch.create_check_constraint("ck_tickets_status", f"status IN ({NEW_STATUSES})")
    _rewrite_history("open", "new", "status_changed", "status")


def downgrade() -> None:
    """Back to 0003: acknowledged and reopened tickets fall back to the nearest old state."""
    with _history_kept():
        with op.batch_alter_table("tickets") as batch:
            batch.drop_constraint("ck_tickets_status", type_="check")
            batch.drop_column("repeat_of")
        op.execute(sa.update(_tickets).where(_tickets.c.status.in_(["new", "acknowledged"])).values(status="open"))
        op.execute(sa.update(_tickets).where(_tickets.c.status == "reopened").values(status="in_progress"))
        with op.batch_alter_table("tickets") as batch:
            batch.create_check_constraint("ck_tickets_status", f"status IN ({OLD_STATUSES})")
    _rewrite_history("new", "open", "status", "status_changed")
