"""Services (portal), the backup servers' tables (services, volumes, users, agents, disk
safes, policies, the provisioning walk's log) and the task ledger.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _fk(column: str, table: str, target: str, ondelete: str = "CASCADE") -> sa.Column:
    return sa.Column(column, sa.Integer(),
                     sa.ForeignKey(target, name=f"fk_{table}_{column}_{target.split('.')[0]}",
                                   ondelete=ondelete), nullable=column == "subuser_id")


def _product(name: str, *columns: sa.Column, unique: tuple[str, ...] = ()) -> None:
    """A table of one step's product: one row per service."""
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("service_id", name, "bs_services.service_id"),
        *columns,
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint("service_id", name=f"uq_{name}_service_id"),
        *(sa.UniqueConstraint(column, name=f"uq_{name}_{column}") for column in unique),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("account_id", "services", "accounts.id"),
        _fk("subuser_id", "services", "accounts.id", ondelete="SET NULL"),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("encrypt", sa.Boolean(), nullable=False),
        sa.Column("activation_hint", sa.String(64), nullable=False),
        sa.Column("service_configured", sa.Boolean(), nullable=False),
        sa.Column("readonly", sa.Boolean(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("maintenance", sa.Boolean(), nullable=False),
        sa.Column("terminated_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_services_account_id", "services", ["account_id"])
    op.create_index("ix_services_subuser_id", "services", ["subuser_id"])

    op.create_table(
        "bs_services",
        sa.Column("service_id", sa.Integer(), autoincrement=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("encrypt", sa.Boolean(), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("pending_encrypt", sa.Boolean(), nullable=True),
        sa.Column("pending_password_sealed", sa.Text(), nullable=True),
        sa.Column("create_status", sa.Integer(), nullable=False),
        sa.Column("walked", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("delete_after", TS, nullable=True),
        sa.Column("removed_at", TS, nullable=True),
        sa.Column("recovery_points", sa.Integer(), nullable=False),
        sa.Column("disk_usage", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("service_id", name="pk_bs_services"),
    )
    op.create_index("ix_bs_services_location_id", "bs_services", ["location_id"])
    _product("bs_volumes", sa.Column("storage", sa.Text(), nullable=False),
             sa.Column("quota_bytes", sa.BigInteger(), nullable=False))
    _product("bs_users", sa.Column("username", sa.String(64), nullable=False),
             sa.Column("password_sealed", sa.Text(), nullable=False), unique=("username",))
    _product("bs_agents", sa.Column("host", sa.String(253), nullable=False),
             sa.Column("port", sa.Integer(), nullable=False),
             sa.Column("key_fingerprint", sa.String(128), nullable=True))
    _product("bs_disksafes", sa.Column("location", sa.Text(), nullable=False),
             sa.Column("encrypted", sa.Boolean(), nullable=False),
             sa.Column("safe_id", sa.String(64), nullable=False))
    _product("bs_policies", sa.Column("name", sa.String(200), nullable=False),
             sa.Column("schedule", sa.String(64), nullable=False),
             sa.Column("keep_last", sa.Integer(), nullable=False),
             sa.Column("excludes", sa.Text(), nullable=False),
             sa.Column("enabled", sa.Boolean(), nullable=False))
    op.create_table(
        "bs_walk_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bs_walk_steps"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bs_walk_steps_service_id", "bs_walk_steps", ["service_id"])
    op.create_table(
        "task_ledger",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_try_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_task_ledger"),
    )
    op.create_index("ix_task_ledger_queue", "task_ledger", ["queue"])


def downgrade() -> None:
    for table in ("task_ledger", "bs_walk_steps", "bs_policies", "bs_disksafes", "bs_agents", "bs_users",
                  "bs_volumes", "bs_services", "services"):
        op.drop_table(table)
