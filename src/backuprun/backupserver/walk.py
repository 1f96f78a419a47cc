"""The provisioning walk of one service, step by idempotent step.

``create_status``: 0 configured -> 1 volume -> 2 user -> 3 agent record -> 4 disk safe ->
5 policy -> 10 ready; -1 while a change is being applied; -4 once terminated.

Rules:
- Each step is one transaction that re-reads the service, stops if it was terminated,
  creates the step's row only if absent (rows are unique per service), moves ``walked`` and
  ``create_status``, and logs the step. A step that was done is never done again, so a walk
  killed anywhere and run again completes once, without duplicates.
- The one step with an effect outside the database, the disk safe, is made idempotent by
  looking first: a safe already in storage is opened with the password (proving it is the
  one we made) instead of created again; a half-made one (config without key, from a kill
  between the two writes) is cleared and made again.
- A pending change (``activateAgent``) is applied after the steps: the agent record takes the
  new address, the disk safe's key is rewrapped for a new password (no data rewritten), or,
  only while it holds no recovery point, the safe is made again with or without encryption.
- A terminated service's data is removed by the walk once ``delete_after`` has passed:
  storage first, then the rows; the service row stays, marked removed.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backuprun.backupserver.models import (
    CHANGING,
    READY,
    TERMINATED,
    BsAgent,
    BsDiskSafe,
    BsPolicy,
    BsService,
    BsUser,
    BsVolume,
    BsWalkStep,
)
from backuprun.backupserver.schedule import first_run
from backuprun.disksafe.errors import SafeExists, SafeNotFound, WrongPassword
from backuprun.disksafe.repository import Repository
from backuprun.sqlutil import utcnow
from backuprun.storage import open_storage

if TYPE_CHECKING:
    from backuprun.backupserver.server import BackupServer

log = logging.getLogger(__name__)

DEFAULT_POLICY = {"name": "Default", "schedule": "daily", "keep_last": 7}
PAUSE_ENV = "BACKUPRUN_TEST_WALK_PAUSE"  # tests only: seconds to pause before each step


class Stopped(Exception):
    """The service was terminated while its walk ran."""


class Walk:
    def __init__(self, server: "BackupServer"):
        self.server = server
        self.location = server.location
        self.steps: list[tuple[int, str, Callable[[Session, BsService], object]]] = [
            (1, "volume", self._volume),
            (2, "user", self._user),
            (3, "agent", self._agent),
            (4, "disksafe", self._disksafe),
            (5, "policy", self._policy),
        ]

    def run(self, service_id: int) -> None:
        """Walk ``service_id`` as far as it can go now; raise to be retried."""
        try:
            with self.server.reading() as db:
                row = db.get(BsService, service_id)
                if row is None or row.removed_at is not None:
                    return
                terminated = row.create_status == TERMINATED
            if terminated:
                self._remove_if_due(service_id)
                return
            for number, what, make in self.steps:
                self._step(service_id, number, what, make)
            self._apply_change(service_id)
        except Stopped:
            log.info("service %s was terminated during its walk", service_id)
        except Exception as exc:
            self._record_error(service_id, exc)
            raise

    # -- the frame of every step ---------------------------------------------------------

    def _step(self, service_id: int, number: int, what: str,
              make: Callable[[Session, BsService], object]) -> None:
        _pause()
        with self.server.session() as db, db.begin():
            row = self._live(db, service_id)
            if row.walked >= number:
                return
            make(db, row)
            row.walked = number
            if row.create_status != CHANGING:
                row.create_status = number
            row.error = ""
            row.updated_at = utcnow()
            db.add(BsWalkStep(service_id=service_id, step=number, what=what, at=utcnow()))

    @staticmethod
    def _live(db: Session, service_id: int) -> BsService:
        """The service, locked for this transaction (a termination waits for the step, or
        the step sees it); ``Stopped`` once it is terminated."""
        row = db.get(BsService, service_id, with_for_update=True)
        if row is None or row.create_status == TERMINATED:
            raise Stopped()
        return row

    def _record_error(self, service_id: int, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"[:500]
        with self.server.session() as db, db.begin():
            row = db.get(BsService, service_id)
            if row is not None:
                row.error = message
                row.updated_at = utcnow()
                db.add(BsWalkStep(service_id=service_id, step=row.walked, what="error",
                                  message=message, at=utcnow()))

    # -- the steps -------------------------------------------------------------------------

    def _volume(self, db: Session, row: BsService) -> None:
        if db.scalar(select(BsVolume.id).where(BsVolume.service_id == row.service_id)):
            return
        db.add(BsVolume(service_id=row.service_id, quota_bytes=self.location.quota_bytes,
                        storage=self.location.disksafe_location(row.service_id),
                        created_at=utcnow()))

    def _user(self, db: Session, row: BsService) -> None:
        if db.scalar(select(BsUser.id).where(BsUser.service_id == row.service_id)):
            return
        username = f"svc{row.service_id}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        db.add(BsUser(service_id=row.service_id, username=username,
                      password_sealed=self.server.box.seal(password), created_at=utcnow()))

    def _agent(self, db: Session, row: BsService) -> None:
        if db.scalar(select(BsAgent.id).where(BsAgent.service_id == row.service_id)):
            return
        db.add(BsAgent(service_id=row.service_id, host=row.host, port=row.port,
                       created_at=utcnow()))

    def _disksafe(self, db: Session, row: BsService) -> None:
        if db.scalar(select(BsDiskSafe.id).where(BsDiskSafe.service_id == row.service_id)):
            return
        location = self.location.disksafe_location(row.service_id)
        password = self.server.safe_password(row.password_sealed) if row.encrypt else None
        repo = self._make_safe(location, password, row.encrypt)
        db.add(BsDiskSafe(service_id=row.service_id, location=location, encrypted=row.encrypt,
                          safe_id=repo.config["safe_id"], created_at=utcnow()))

    def _policy(self, db: Session, row: BsService) -> None:
        if db.scalar(select(BsPolicy.id).where(BsPolicy.service_id == row.service_id)):
            return
        db.add(BsPolicy(service_id=row.service_id, enabled=True, excludes="",
                        created_at=utcnow(), next_run_at=first_run(DEFAULT_POLICY["schedule"]),
                        **DEFAULT_POLICY))

    # -- the disk safe ---------------------------------------------------------------------

    @staticmethod
    def _make_safe(location: str, password: bytes | None, encrypted: bool) -> Repository:
        storage = open_storage(location)
        try:
            return Repository.init(storage, password, encrypted=encrypted)
        except SafeExists:
            pass
        try:  # made by an earlier run of this step: it must open with our password
            return Repository.open(storage, password, load_index=False)
        except SafeNotFound:  # half made (killed between config and key): make it again
            _wipe(location)
            return Repository.init(open_storage(location), password, encrypted=encrypted)

    # -- changes -----------------------------------------------------------------------------

    def _apply_change(self, service_id: int) -> None:
        with self.server.reading() as db:
            row = self._live(db, service_id)
            safe = db.scalar(select(BsDiskSafe).where(BsDiskSafe.service_id == service_id))
            agent = db.scalar(select(BsAgent).where(BsAgent.service_id == service_id))
            pending_encrypt = row.pending_encrypt
            new_sealed = row.pending_password_sealed
            old_sealed, encrypted = row.password_sealed, safe.encrypted
            status, points = row.create_status, row.recovery_points
        if status == READY and pending_encrypt is None and new_sealed is None and \
                (agent.host, agent.port) == (row.host, row.port):
            return
        _pause()
        made_again = None
        if pending_encrypt is not None and pending_encrypt != encrypted:
            if points:
                raise ValueError("the disk safe holds recovery points: encryption cannot change")
            made_again = self._remake_safe(safe.location, pending_encrypt,
                                           new_sealed or old_sealed)
        elif new_sealed and encrypted:
            self._rewrap(safe.location, old_sealed, new_sealed)
        with self.server.session() as db, db.begin():
            row = self._live(db, service_id)
            agent = db.scalar(select(BsAgent).where(BsAgent.service_id == service_id))
            agent.host, agent.port = row.host, row.port
            if made_again is not None:
                safe = db.scalar(select(BsDiskSafe).where(BsDiskSafe.service_id == service_id))
                safe.encrypted, safe.safe_id = made_again
                row.encrypt = made_again[0]
            if new_sealed:
                row.password_sealed = new_sealed
            # what was asked while this ran stays pending; the queue runs the walk again
            if row.pending_encrypt == pending_encrypt:
                row.pending_encrypt = None
            if row.pending_password_sealed == new_sealed:
                row.pending_password_sealed = None
            if row.pending_encrypt is None and row.pending_password_sealed is None:
                row.create_status = READY
            row.error = ""
            row.updated_at = utcnow()
            db.add(BsWalkStep(service_id=service_id, step=READY,
                              what="changed" if status == CHANGING else "ready", at=utcnow()))

    def _rewrap(self, location: str, old_sealed: str | None, new_sealed: str) -> None:
        """Rewrap the safe's key for the new password; a run killed after the new key
        object was written finds the safe opening with the new password, and is done."""
        storage = open_storage(location)
        try:
            repo = Repository.open(storage, self.server.safe_password(old_sealed), load_index=False)
        except WrongPassword:
            Repository.open(storage, self.server.safe_password(new_sealed), load_index=False)
            return
        repo.change_password(self.server.safe_password(new_sealed))

    def _remake_safe(self, location: str, encrypt: bool,
                     sealed: str | None) -> tuple[bool, str]:
        _wipe(location)
        password = self.server.safe_password(sealed) if encrypt else None
        repo = Repository.init(open_storage(location), password, encrypted=encrypt)
        return encrypt, repo.config["safe_id"]

    # -- termination -----------------------------------------------------------------------------

    def remove(self, service_id: int) -> None:
        """Delete the service's data and every row of it (it moved to another location)."""
        _wipe(self.location.disksafe_location(service_id))
        with self.server.session() as db, db.begin():
            for table in (BsPolicy, BsDiskSafe, BsAgent, BsUser, BsVolume, BsWalkStep):
                db.execute(delete(table).where(table.service_id == service_id))
            db.execute(delete(BsService).where(BsService.service_id == service_id))

    def _remove_if_due(self, service_id: int) -> None:
        with self.server.reading() as db:
            row = db.get(BsService, service_id)
            if row.delete_after is None or row.delete_after > utcnow():
                return
        _wipe(self.location.disksafe_location(service_id))
        with self.server.session() as db, db.begin():
            row = db.get(BsService, service_id)
            if row.create_status != TERMINATED or row.removed_at is not None:
                return  # termination cancelled meanwhile (the safe was empty or gone)
            for table in (BsPolicy, BsDiskSafe, BsAgent, BsUser, BsVolume):
                db.execute(delete(table).where(table.service_id == service_id))
            row.removed_at = utcnow()
            row.disk_usage = 0
            row.recovery_points = 0
            row.password_sealed = row.pending_password_sealed = None
            db.add(BsWalkStep(service_id=service_id, step=TERMINATED, what="removed",
                              at=utcnow()))


def _wipe(location: str) -> None:
    """Delete every object of the disk safe at ``location`` (and a local folder)."""
    if not location.startswith(("s3://", "memory://")):
        shutil.rmtree(Path(location), ignore_errors=True)
        return
    storage = open_storage(location)
    for name in list(storage.list("")):
        storage.remove(name)


def _pause() -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        time.sleep(float(pause))
