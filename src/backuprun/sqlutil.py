"""SQL helpers shared by every program's tables: naming, UTC times, SQLite connections.

Rules:
- Constraint names follow :data:`NAMING` on every table, so migrations can name them.
- Timestamps are aware UTC datetimes on both databases (:class:`UTCDateTime`).
- SQLite connections run with foreign keys on, WAL, a 30 s busy wait, and transactions
  that begin IMMEDIATE (one writer at a time): a deferred transaction that reads, then
  writes, fails with SQLITE_BUSY when another writer got in between, and no wait helps.
- Except a session that only reads: through :func:`read_only`'s engine it issues no BEGIN
  on SQLite (and :func:`make_read_engine`'s runs in autocommit on PostgreSQL), so readers
  neither wait for the write lock nor hold it (WAL lets them read beside the one writer);
  each statement reads a consistent snapshot of its own (enough for a lookup or a status;
  nothing here needs two reads to agree), and the session refuses to flush a change.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.orm import Session

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both databases (SQLite keeps them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def prepare_sqlite(url: str, sync_engine: Engine) -> None:
    """Make the database's folder and set up every connection of ``sync_engine``."""
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(conn):
        if not conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY = "backuprun_read_only"  # the execution option :func:`read_only` sets


def read_only(engine):
    """``engine`` (an ``Engine`` or an ``AsyncEngine``: the same pool) for sessions that
    only read. Bind it with :class:`ReadOnlySession`."""
    return engine.execution_options(**{READ_ONLY: True})


def make_read_engine(url: str) -> Engine:
    """A synchronous engine of its own for sessions that only read, those that nearly every
    API call makes. On PostgreSQL its connections stay in autocommit: a read costs the
    pool's ping and its statement, not also a BEGIN and a ROLLBACK (and switching a shared
    connection to autocommit and back would cost as much)."""
    if url.startswith("sqlite"):
        return read_only(make_sync_engine(url))
    return read_only(create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE,
                                   isolation_level="AUTOCOMMIT",
                                   connect_args=pg_connect_args(url)))


class ReadOnlySession(Session):
    """A session for :func:`read_only`'s engine: a change flushed through it is a bug (on
    SQLite it would need the write lock that reads never take)."""

    def flush(self, objects=None) -> None:
        if self.new or self.deleted or self.dirty:
            raise RuntimeError("a read-only session was asked to write")


# connections a PostgreSQL pool keeps open: more than the threads of a read lane
# (backuprun.lanes), so no read opens and closes one of its own (~10 ms each)
PG_POOL_SIZE = 10


def pg_connect_args(url: str) -> dict:
    """An unreachable PostgreSQL is an error after 10 s, not a hang (a URL may set its own)."""
    return {} if "connect_timeout=" in url else {"connect_timeout": 10}


def make_sync_engine(url: str) -> Engine:
    """An engine for synchronous code (backup servers, task workers)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        prepare_sqlite(url, engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE,
                         connect_args=pg_connect_args(url))
