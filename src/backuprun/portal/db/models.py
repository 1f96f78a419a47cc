"""The portal's tables (SQLAlchemy 2 declarative). Schema changes go through a new Alembic
revision in ``backuprun/schema/migrations/versions``; never edit a published one.

A table whose ids users see (accounts, later services and tasks) sets
``sqlite_autoincrement``: an id is never given out again, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backuprun.sqlutil import NAMING, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A main account (``parent_id`` NULL) or a subuser (contact) of one main account."""

    __tablename__ = "accounts"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased email
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[int | None] = mapped_column(Integer)  # subusers: 4 (2, 1 deprecated)
    fixed_phone: Mapped[str] = mapped_column(String(40), default="")
    mobile: Mapped[str] = mapped_column(String(40), default="")
    mobile2: Mapped[str] = mapped_column(String(40), default="")
    notify: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_email: Mapped[str] = mapped_column(String(254), default="")
    special_locations: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def is_subuser(self) -> bool:
        return self.parent_id is not None


class Session(Base):
    """A logged-in session; only the SHA-256 of its token is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RecoveryCode(Base):
    """A password recovery code; only its SHA-256 is stored. Single use, short-lived."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginAttempt(Base):
    """One login attempt, kept for the throttling window (and the familiar-address memory)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_key_at", "email_key", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_key: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Service(Base):
    """A customer's service: one server (or VDS) backed up in one location.

    ``id`` is what the API calls ``id``, ``sc_id`` and ``agent-id``; ``service_id`` on the
    wire is the type's letter and the same number (``S12``, ``V13``). Where the service
    stands on its backup server (``create_status``, its login there) is the backup
    server's to say; this row holds what the account decided.
    """

    __tablename__ = "services"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)  # the main account
    subuser_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True)  # assigned contact
    kind: Mapped[int] = mapped_column(Integer)  # 1 SERVER, 3 VDS
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    location_id: Mapped[int] = mapped_column(Integer)
    encrypt: Mapped[bool] = mapped_column(Boolean)
    activation_hint: Mapped[str] = mapped_column(String(64), default="")
    service_configured: Mapped[bool] = mapped_column(Boolean, default=False)
    readonly: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
class RequestEvent(Base):
    """One counted request (``registerNewUser``, ``recoverPassword``), kept for its window."""

    __tablename__ = "request_events"
    __table_args__ = (
        Index("ix_request_events_action_email_key_at", "action", "email_key", "at"),
        Index("ix_request_events_action_address_at", "action", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    email_key: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskNotice(Base):
    """A failed task its owner was told about by e-mail: one row per task, so that several
    portal processes looking at once send one mail."""

    __tablename__ = "task_notices"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
