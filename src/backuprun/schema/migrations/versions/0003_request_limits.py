"""Request events, counted by the limits on registerNewUser and recoverPassword.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_request_events"),
    )
    op.create_index("ix_request_events_action_email_key_at", "request_events",
                    ["action", "email_key", "at"])
    op.create_index("ix_request_events_action_address_at", "request_events",
                    ["action", "address", "at"])


def downgrade() -> None:
    op.drop_table("request_events")
