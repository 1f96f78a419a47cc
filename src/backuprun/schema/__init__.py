"""The database schema of every program, as one Alembic history: the portal's tables
(``portal.db.models``), the backup servers' ``bs_*`` tables (``backupserver.models``) and
the task ledger (``tasks.ledger``).

Rules:
- Nobody runs SQL by hand: :func:`migrate` upgrades to the newest revision, and every
  program that opens the database (``serve``, ``backup-server``, ``worker``, ``admin``)
  calls it first. On PostgreSQL an advisory lock serialises processes that start together;
  on SQLite foreign keys are off while a migration rebuilds tables (checked before it
  commits).
- Models are defined by their owners; a schema change is a new revision in
  ``migrations/versions`` (never an edit of a published one), and a test checks that the
  migrations build exactly what the models describe, on SQLite and PostgreSQL.
- This package imports nothing of ours but ``sqlutil``, so any program may use it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# what going wrong with a database looks like (reaching it, logging in, migrating it)
DATABASE_ERRORS = (SQLAlchemyError, OSError, ImportError)
_MIGRATION_LOCK = 0x42525550  # "BRUP": pg_advisory_xact_lock key


class DatabaseUnavailable(Exception):
    """The database cannot be used; the message says which (password hidden) and what to do."""


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """One line for a command to print when ``url``'s database failed with ``exc``."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return DatabaseUnavailable("the database URL is not a URL; give one like "
                                   "postgresql+psycopg://user:password@host/db")
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    return DatabaseUnavailable(
        f"cannot use the database {shown}: {reason}; check --database-url (or "
        "BACKUPRUN_DATABASE_URL) and that the server runs and lets this user in")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` (not in a transaction) to ``revision``."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # a table rebuild drops the old table; with foreign keys on, that would cascade into
        # the rows that point at it. The pragma only works outside a transaction.
        _sqlite_pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            command.upgrade(alembic_config(connection), revision)
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("migration left rows whose foreign keys point nowhere")
    finally:
        if sqlite:
            _sqlite_pragma(connection, "foreign_keys=ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # no BEGIN: not a transaction
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Create or upgrade the schema to the newest revision (or to ``revision``)."""
    async with engine.connect() as conn:
        await conn.run_sync(upgrade, revision)


def migrate_sync(engine: Engine, revision: str = "head") -> None:
    """The same, on a synchronous engine."""
    with engine.connect() as conn:
        upgrade(conn, revision)
