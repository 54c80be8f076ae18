"""Alembic's entry point: migrations run on the connection `store.migrate` passes in, inside
its transaction (which holds the migration lock)."""

from __future__ import annotations

from alembic import context

from mailticket.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
