"""Alembic environment: runs on the connection handed over by ``backuprun.portal.db``."""

from alembic import context

from backuprun.portal.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run portal migrations through backuprun.portal.db.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
