"""Backup and restore tasks and their logs; what the backups tell of a service and its agent;
the policy's next scheduled run; the portal's record of failed tasks it mailed about.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("bs_services") as table:
        for column in ("first_backup_try", "startup_ok", "status_min_ok"):
            table.add_column(sa.Column(column, sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    with op.batch_alter_table("bs_agents") as table:
        table.add_column(sa.Column("ostype", sa.String(64), nullable=False, server_default=""))
        table.add_column(sa.Column("hostname", sa.String(253), nullable=False,
                                   server_default=""))
        table.add_column(sa.Column("version", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("bs_policies") as table:
        table.add_column(sa.Column("next_run_at", TS, nullable=True))
    op.create_table(
        "bs_tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("service_id", sa.Integer(),
                  sa.ForeignKey("bs_services.service_id", ondelete="CASCADE",
                                name="fk_bs_tasks_service_id_bs_services"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("bytes_added", sa.BigInteger(), nullable=False),
        sa.Column("recovery_point", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bs_tasks"),
    )
    op.create_index("ix_bs_tasks_service_id", "bs_tasks", ["service_id"])
    op.create_index("ix_bs_tasks_finished_at", "bs_tasks", ["finished_at"])
    op.create_table(
        "bs_task_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.String(36),
                  sa.ForeignKey("bs_tasks.id", ondelete="CASCADE",
                                name="fk_bs_task_messages_task_id_bs_tasks"), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bs_task_messages"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bs_task_messages_task_id", "bs_task_messages", ["task_id"])
    op.create_table(
        "task_notices",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_notices"),
    )


def downgrade() -> None:
    op.drop_table("task_notices")
    op.drop_table("bs_task_messages")
    op.drop_table("bs_tasks")
    with op.batch_alter_table("bs_policies") as table:
        table.drop_column("next_run_at")
    with op.batch_alter_table("bs_agents") as table:
        for column in ("version", "hostname", "ostype"):
            table.drop_column(column)
    with op.batch_alter_table("bs_services") as table:
        for column in ("status_min_ok", "startup_ok", "first_backup_try"):
            table.drop_column(column)
