"""The portal's database: engine, sessions; the schema is migrated on start.

Rules:
- SQLAlchemy 2 async everywhere: aiosqlite for the embedded default
  (``<data-dir>/backuprun.db``), psycopg 3 for ``postgresql+psycopg://`` URLs.
- The schema is owned by Alembic (``backuprun.schema``), upgraded to head by :func:`migrate`
  when the portal starts; nobody runs SQL by hand (see there for locks and SQLite rebuilds).
- SQLite transactions begin IMMEDIATE (one writer at a time, waiting up to 30 s), so
  concurrent requests queue instead of failing; PostgreSQL runs them concurrently
  (``backuprun.sqlutil``, shared with the backup servers' synchronous engine).
- Timestamps are aware UTC datetimes on both databases (``sqlutil.UTCDateTime``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from backuprun.schema import migrate
from backuprun.sqlutil import pg_connect_args, prepare_sqlite


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        prepare_sqlite(url, engine.sync_engine)
        return engine
    # an unreachable server is an error after 10 s, not a hang (a URL may set its own)
    return create_async_engine(url, pool_pre_ping=True, connect_args=pg_connect_args(url))


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


__all__ = ["make_engine", "sessionmaker", "migrate"]
