"""Reads that take no write lock (``Sessions.read`` and ``Sessions.reading``, through
``sqlutil.read_only``), on both databases: the session lookup and the status reads of every
call must not queue behind a writer (on SQLite they would wait up to 30 s for its lock)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from backuprun.portal import db as database
from backuprun.portal.db.models import Account
from backuprun.sqlutil import utcnow


def _account(email: str) -> Account:
    now = utcnow()
    return Account(email=email, email_key=email, name="N", password_hash="x",
                   created_at=now, updated_at=now)


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Account))


def _with_sessions(url: str, check):
    async def run():
        engine = database.make_engine(url)
        await database.migrate(engine)
        sessions = database.sessionmaker(engine)
        try:
            return await check(sessions)
        finally:
            sessions.close()
            await engine.dispose()

    return asyncio.run(run())


def test_reads_go_on_while_a_writer_holds_its_transaction(databases):
    async def check(sessions):
        async with sessions() as writer, writer.begin():
            writer.add(_account("a@example.com"))
            await writer.flush()  # the writer holds the database's write lock
            seen_in_thread = await asyncio.wait_for(sessions.read(_count), 5)
            async with sessions.reading() as db:
                seen_async = await asyncio.wait_for(db.scalar(
                    select(func.count()).select_from(Account)), 5)
        return seen_in_thread, seen_async, await sessions.read(_count)

    # at once, and without what the writer has not committed yet; then with it
    assert _with_sessions(databases.new(), check) == (0, 0, 1)


def test_a_read_only_session_refuses_to_write(databases):
    def write(db):
        db.add(_account("b@example.com"))
        db.commit()

    async def check(sessions):
        with pytest.raises(RuntimeError, match="read-only"):
            await sessions.read(write)
        return await sessions.read(_count)

    assert _with_sessions(databases.new(), check) == 0
