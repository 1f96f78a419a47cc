"""The portal's database: engine, sessions; the schema is migrated on start.

Rules:
- SQLAlchemy 2 async everywhere: aiosqlite for the embedded default
  (``<data-dir>/backuprun.db``), psycopg 3 for ``postgresql+psycopg://`` URLs.
- The schema is owned by Alembic (``backuprun.schema``), upgraded to head by :func:`migrate`
  when the portal starts; nobody runs SQL by hand (see there for locks and SQLite rebuilds).
- SQLite transactions begin IMMEDIATE (one writer at a time, waiting up to 30 s), so
  concurrent requests queue instead of failing; PostgreSQL runs them concurrently
  (``backuprun.sqlutil``, shared with the backup servers' synchronous engine).
- A transaction that only reads takes no write lock on SQLite: :meth:`Sessions.reading`
  (async), or :meth:`Sessions.read`, which runs a synchronous function on a
  :class:`~backuprun.lanes.Lane`'s threads with a synchronous engine of the same database
  kept for reads (``sqlutil.make_read_engine``). ``read`` is for what every call does (the
  session lookup, the service lookup): through aiosqlite one query costs ~9 hand-offs
  between the event loop and the connection's thread (~0.9 ms of CPU), through ``read``
  one (~0.15 ms).
- Timestamps are aware UTC datetimes on both databases (``sqlutil.UTCDateTime``).
"""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy.ext.asyncio import (AsyncEngine, AsyncSession, async_sessionmaker,
                                    create_async_engine)
from sqlalchemy.orm import sessionmaker as sync_sessionmaker

from backuprun.config import sync_url
from backuprun.lanes import Lane
from backuprun.schema import migrate
from backuprun.sqlutil import (ReadOnlySession, make_read_engine, pg_connect_args,
                               prepare_sqlite, read_only)

T = TypeVar("T")


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        prepare_sqlite(url, engine.sync_engine)
        return engine
    # an unreachable server is an error after 10 s, not a hang (a URL may set its own)
    return create_async_engine(url, pool_pre_ping=True, connect_args=pg_connect_args(url))


class Sessions:
    """The portal's sessions: ``sessions()`` for a transaction that may write,
    ``sessions.reading()`` and ``sessions.read(fn)`` for one that only reads."""

    def __init__(self, engine: AsyncEngine, lane: Lane | None = None):
        self._lane = lane or Lane()
        self._writing = async_sessionmaker(engine, expire_on_commit=False)
        self._reading = async_sessionmaker(read_only(engine), expire_on_commit=False,
                                           autoflush=False, sync_session_class=ReadOnlySession)
        url = sync_url(engine.url.render_as_string(hide_password=False))
        self._sync_engine = make_read_engine(url)
        self._sync_reading = sync_sessionmaker(self._sync_engine, expire_on_commit=False,
                                               autoflush=False, class_=ReadOnlySession)

    def __call__(self) -> AsyncSession:
        return self._writing()

    def reading(self) -> AsyncSession:
        return self._reading()

    async def read(self, fn: Callable[..., T], *args) -> T:
        """``fn(session, *args)`` on the lane's threads, with a synchronous read-only
        session; what it returns is detached, loaded."""
        return await self._lane.run(self._read, fn, args)

    def _read(self, fn: Callable[..., T], args: tuple) -> T:
        with self._sync_reading() as db:
            return fn(db, *args)

    def close(self) -> None:
        """Close the synchronous engine's connections (the async engine is the caller's)."""
        self._sync_engine.dispose()


def sessionmaker(engine: AsyncEngine, lane: Lane | None = None) -> Sessions:
    return Sessions(engine, lane)


__all__ = ["make_engine", "sessionmaker", "Sessions", "migrate"]
