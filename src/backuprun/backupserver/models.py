"""The backup server's tables: its services and what the provisioning walk creates for each.

One row per service and step product, each unique per service, so a step that runs again
finds its row and does nothing: that is what makes the walk idempotent. Schema changes go
through a new Alembic revision (``backuprun.schema``), like the portal's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backuprun.sqlutil import NAMING, UTCDateTime


# BsService.create_status: the walk's steps 0..5, then these (the API document's values)
CONFIGURED, READY, CHANGING, TERMINATED = 0, 10, -1, -4


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _service_fk() -> ForeignKey:
    return ForeignKey("bs_services.service_id", ondelete="CASCADE")


class BsService(Base):
    """A service on this backup server: its spec, where its walk stands, what is pending."""

    __tablename__ = "bs_services"

    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    location_id: Mapped[int] = mapped_column(Integer, index=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    encrypt: Mapped[bool] = mapped_column(Boolean)
    password_sealed: Mapped[str | None] = mapped_column(Text)  # the disk-safe password
    pending_encrypt: Mapped[bool | None] = mapped_column(Boolean)  # a change not yet applied
    pending_password_sealed: Mapped[str | None] = mapped_column(Text)
    create_status: Mapped[int] = mapped_column(Integer)
    walked: Mapped[int] = mapped_column(Integer, default=0)  # highest step done (0..5)
    error: Mapped[str] = mapped_column(Text, default="")
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime())  # terminated
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # data deleted
    recovery_points: Mapped[int] = mapped_column(Integer, default=0)
    disk_usage: Mapped[int] = mapped_column(BigInteger, default=0)
    # what the backups so far tell (set by the tasks; see backupserver.tasklog)
    first_backup_try: Mapped[bool] = mapped_column(Boolean, default=False)
    startup_ok: Mapped[bool] = mapped_column(Boolean, default=False)  # an agent answered
    status_min_ok: Mapped[bool] = mapped_column(Boolean, default=False)  # one without errors
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsVolume(Base):
    """Step 1: the service's volume (its share of the location's storage) and quota."""

    __tablename__ = "bs_volumes"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(_service_fk(), unique=True)
    storage: Mapped[str] = mapped_column(Text)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsUser(Base):
    """Step 2: the service's own login on this backup server (read-only view)."""

    __tablename__ = "bs_users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(_service_fk(), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsAgent(Base):
    """Step 3: the agent record: where to reach the service's agent, and its pinned key."""

    __tablename__ = "bs_agents"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(_service_fk(), unique=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    key_fingerprint: Mapped[str | None] = mapped_column(String(128))  # pinned at first contact
    ostype: Mapped[str] = mapped_column(String(64), default="")  # from its hello
    hostname: Mapped[str] = mapped_column(String(253), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsDiskSafe(Base):
    """Step 4: the service's disk safe, really created in the location's storage."""

    __tablename__ = "bs_disksafes"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(_service_fk(), unique=True)
    location: Mapped[str] = mapped_column(Text)  # folder or s3:// URL
    encrypted: Mapped[bool] = mapped_column(Boolean)
    safe_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsPolicy(Base):
    """Step 5: the service's policy: when to back up, how many recovery points to keep."""

    __tablename__ = "bs_policies"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(_service_fk(), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    schedule: Mapped[str] = mapped_column(String(64))  # "daily"
    keep_last: Mapped[int] = mapped_column(Integer)
    excludes: Mapped[str] = mapped_column(Text, default="")  # one path per line
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the schedule's next
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsWalkStep(Base):
    """The walk's log: one row per step done (and per error), for operators and tests."""

    __tablename__ = "bs_walk_steps"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(Integer, index=True)
    step: Mapped[int] = mapped_column(Integer)
    what: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BsTask(Base):
    """A backup or restore task: its state and what it did (``taskExecutionContextId``)."""

    __tablename__ = "bs_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID
    service_id: Mapped[int] = mapped_column(_service_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # backup, restore
    state: Mapped[str] = mapped_column(String(16))  # INITIALIZING ... FINISHED/ERROR/CANCELLED
    scheduled: Mapped[bool] = mapped_column(Boolean, default=False)  # by the policy's schedule
    args: Mapped[str] = mapped_column(Text, default="")  # JSON: a restore's paths and target
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)  # seen (backup) or written (restore)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)  # changed data read
    bytes_added: Mapped[int] = mapped_column(BigInteger, default=0)  # new data stored
    recovery_point: Mapped[str | None] = mapped_column(String(64))  # made, or restored from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class BsTaskMessage(Base):
    """One line of a task's log, as ``getTaskDetailById`` answers it."""

    __tablename__ = "bs_task_messages"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("bs_tasks.id", ondelete="CASCADE"),
                                         index=True)
    source: Mapped[str] = mapped_column(String(8))  # SERVER, AGENT
    key: Mapped[str] = mapped_column(String(128))
    params: Mapped[str] = mapped_column(Text)  # a JSON array of strings
    level: Mapped[str] = mapped_column(String(8))  # INFO, WARNING, SEVERE
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
