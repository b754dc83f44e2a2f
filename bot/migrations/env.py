"""Alembic environment for the ticket store.

Migrations are run only through :func:`bot.db.migrate`, which passes an open
connection (already inside its locked transaction), so there is no alembic.ini and
no URL here.
"""

from __future__ import annotations

from alembic import context

import bot.callbacks.store  # noqa: F401  (declares the callbacks table on the shared metadata)
import bot.evidence  # noqa: F401  (declares the evidence table on the shared metadata)
import bot.followup.store  # noqa: F401  (declares followups and survey_answers on the shared metadata)
import bot.handoff.store  # noqa: F401  (declares handoffs on the shared metadata)
import bot.outbound.store  # noqa: F401  (declares outbound_messages on the shared metadata)
import bot.sla.models  # noqa: F401  (declares sla_checks on the shared metadata)
from bot.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with bot.db.migrate(engine), which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
