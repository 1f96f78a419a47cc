"""Alembic migrations of the whole schema, run by ``backuprun.schema.migrate``."""
