"""Ids users see (accounts, i.e. contacts) are never given out again.

Without ``AUTOINCREMENT`` SQLite gives a new row the highest rowid + 1, so deleting the newest
contact handed its id to the next one, and a stale reference reached another person. The
tables are rebuilt with ``AUTOINCREMENT`` (rows, indexes and foreign keys kept;
``sqlite_sequence`` starts at the highest id present). PostgreSQL sequences never go back:
nothing to do there. Later tables with ids users see (services, tasks) are created with
``sqlite_autoincrement=True`` from the start.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("accounts",)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
