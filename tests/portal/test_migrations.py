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
