"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backuprun.portal import db as database
from backuprun.portal.db.models import Base
from backuprun.backupserver.models import Base as BackupServerBase
from backuprun.tasks.ledger import metadata as ledger_metadata


def test_migrations_match_models(databases):
    url = databases.new()

    async def check():
        engine = database.make_engine(url)
        try:
            await database.migrate(engine)
            await database.migrate(engine)  # idempotent: a second start changes nothing
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync),
                                                  [Base.metadata,
                                                   BackupServerBase.metadata,
                                                   ledger_metadata]))
        finally:
            await engine.dispose()

    assert asyncio.run(check()) == []


def test_0002_keeps_rows_and_stops_id_reuse(databases):
    """An 0001 database with accounts, subusers and sessions: 0002 keeps every row (no
    cascade from rebuilding ``accounts``), and a deleted highest id is not handed out again."""
    from sqlalchemy import text

    url = databases.new()
    now = "2026-01-01 00:00:00"
    account = text(
        "INSERT INTO accounts (email, email_key, name, password_hash, parent_id, fixed_phone, "
        "mobile, mobile2, notify, notify_email, special_locations, created_at, updated_at) "
        "VALUES (:e, :e, 'n', 'h', (SELECT min(id) FROM accounts), '', '', '', true, '', "
        "false, :now, :now)")

    async def check():
        engine = database.make_engine(url)
        try:
            await database.migrate(engine, "0001")
            async with engine.begin() as conn:
                for n in (1, 2, 3):  # a main account (1) and its subusers 2 and 3
                    await conn.execute(account, dict(e=f"{n}@x.org", now=now))
                await conn.execute(text(
                    "INSERT INTO sessions (token_hash, account_id, remember, created_at, "
                    "expires_at) VALUES ('t', 2, false, :now, :now)"), dict(now=now))
                await conn.execute(text("DELETE FROM accounts WHERE id = 3"))
            await database.migrate(engine)
            async with engine.begin() as conn:
                ids = (await conn.execute(text("SELECT id FROM accounts ORDER BY id"))).all()
                sessions = (await conn.execute(text("SELECT account_id FROM sessions"))).all()
                await conn.execute(text("DELETE FROM accounts WHERE id = 2"))
                await conn.execute(account, dict(e="new@x.org", now=now))
                new_id = await conn.scalar(text(
                    "SELECT id FROM accounts WHERE email = 'new@x.org'"))
            return [i for (i,) in ids], [a for (a,) in sessions], new_id
        finally:
            await engine.dispose()

    ids, sessions, new_id = asyncio.run(check())
    assert ids == [1, 2] and sessions == [2]
    assert new_id > 2
