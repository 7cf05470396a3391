"""Alembic environment: runs on the connection crmcli hands over (never reads alembic.ini)."""

from __future__ import annotations

from alembic import context

from crmcli.store.models import all_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
