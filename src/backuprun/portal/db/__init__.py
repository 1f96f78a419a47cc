"""The portal's database: engine, sessions, and migrations run on start.

Rules:
- SQLAlchemy 2 async everywhere: aiosqlite for the embedded default
  (``<data-dir>/backuprun.db``), psycopg 3 for ``postgresql+psycopg://`` URLs.
- The schema is owned by Alembic (``migrations/``), upgraded to head by :func:`migrate` when
  the portal starts; nobody runs SQL by hand. On PostgreSQL an advisory lock serialises
  portal processes that start together; on SQLite foreign keys are off while a migration
  rebuilds tables (checked before it commits).
- SQLite transactions begin IMMEDIATE (one writer at a time, waiting up to 30 s), so
  concurrent requests queue instead of failing; PostgreSQL runs them concurrently.
- Timestamps are aware UTC datetimes on both databases (``models.UTCDateTime``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x42525550  # "BRUP": pg_advisory_xact_lock key


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            # we issue BEGIN ourselves (below); the driver must not
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):
            # take the write lock up front: a deferred transaction that reads, then writes,
            # fails with SQLITE_BUSY when another writer got in between (no busy wait helps)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # an unreachable server is an error after 10 s, not a hang (a URL may set its own)
    return create_async_engine(url, pool_pre_ping=True, connect_args=(
        {} if "connect_timeout=" in url else {"connect_timeout": 10}))


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
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
        await conn.run_sync(_upgrade, revision)
