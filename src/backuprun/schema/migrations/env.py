"""Alembic environment: runs on the connection handed over by ``backuprun.schema``.

Revisions are written by hand (``op`` calls); nothing here compares with the models, so
this package needs none of them (tests do that comparison)."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through backuprun.schema.migrate()")

context.configure(connection=connection, target_metadata=None,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
