"""Alembic environment: runs migrations on the connection the store hands over.

The store opens the connection, takes its backend's migration lock and passes the connection
in ``config.attributes["connection"]``, so migrations never open a second connection.
"""

from __future__ import annotations

from alembic import context

from modelcycle.store._schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
