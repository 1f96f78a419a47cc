"""One location's backup server: the synchronous core behind every way of reaching it.

The portal's requests (provision, change, terminate, cancel, states) only record what is
wanted and hand the work to the walk (:mod:`.walk`), run as a keyed task by the task
queue; they answer at once with the service's state.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from backuprun.backupserver.client import BackupServerError, ServiceSpec, ServiceState
from backuprun.backupserver.locations import Location
from backuprun.backupserver.models import (
    CHANGING,
    CONFIGURED,
    READY,
    TERMINATED,
    BsAgent,
    BsDiskSafe,
    BsPolicy,
    BsService,
    BsTask,
    BsUser,
    BsVolume,
    BsWalkStep,
)
from backuprun.backupserver import points, schedule, tasklog
from backuprun.backupserver.safes import OpenSafes
from backuprun.backupserver.secrets import SecretBox
from backuprun.backupserver.tasklog import QUEUED
from backuprun.backupserver.walk import Walk
from backuprun.sqlutil import ReadOnlySession, read_only, utcnow


class BackupServer:
    def __init__(self, location: Location, engine: Engine, box: SecretBox,
                 submit_walk: Callable[[int, int], None] | None = None,
                 submit_task: Callable[[int, str], None] | None = None,
                 read_engine: Engine | None = None):
        self.location = location
        self.location_id = location.id
        self.engine = engine
        self.box = box
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # reads: on an engine of their own (sqlutil.make_read_engine), or this one's pool
        self._reading = sessionmaker(read_engine or read_only(engine), expire_on_commit=False,
                                     autoflush=False, class_=ReadOnlySession)
        self.safes = OpenSafes()
        self.walker = Walk(self)
        # hands a walk to the task queue: submit_walk(location_id, service_id)
        self._submit = submit_walk
        # hands a backup or restore task to the task queue: submit_task(location_id, task_id)
        self._submit_task = submit_task

    def session(self) -> Session:
        """A session for a transaction that may write (``with ... db.begin()``)."""
        return self._sessions()

    def reading(self) -> Session:
        """A session for a transaction that only reads (on SQLite: no write lock)."""
        return self._reading()

    def safe_password(self, sealed: str | None) -> bytes:
        """A disk-safe password, unsealed (``ValueError`` when there is none)."""
        if not sealed:
            raise ValueError("an encrypted disk safe needs a password")
        return self.box.open(sealed).encode("utf-8")

    def submit_walk(self, service_id: int) -> None:
        if self._submit is not None:
            self._submit(self.location_id, service_id)

    # -- what the portal asks ------------------------------------------------------------

    def provision(self, spec: ServiceSpec) -> ServiceState:
        """Record the service and start its walk; answers the state the walk starts from."""
        self._add(spec, CONFIGURED)
        state = self._state(spec.service_id)
        self.submit_walk(spec.service_id)
        return state

    def change(self, spec: ServiceSpec) -> ServiceState:
        """Apply ``spec``; a service new to this server (a move here) is provisioned, shown
        as being changed (-1) until it is ready."""
        with self.session() as db, db.begin():
            row = db.get(BsService, spec.service_id, with_for_update=True)
            if row is not None:
                self._check_changeable(row, spec)
                row.name, row.host, row.port = spec.name, spec.host, spec.port
                if spec.encrypt != row.encrypt or row.pending_encrypt is not None:
                    row.pending_encrypt = spec.encrypt
                if spec.password:
                    row.pending_password_sealed = self.box.seal(spec.password)
                # activating the agent again forgets its pinned key: the next task pins
                # whatever key the agent then presents
                db.execute(update(BsAgent).where(BsAgent.service_id == spec.service_id)
                           .values(key_fingerprint=None))
                row.create_status = CHANGING
                row.updated_at = utcnow()
        if row is None:
            self._add(spec, CHANGING)
        self.submit_walk(spec.service_id)
        return self._state(spec.service_id)

    def terminate(self, service_id: int, grace_seconds: int) -> ServiceState:
        with self.session() as db, db.begin():
            row = self._row(db, service_id)
            if row.create_status != TERMINATED:
                row.create_status = TERMINATED
                row.delete_after = utcnow() + timedelta(seconds=grace_seconds)
                row.updated_at = utcnow()
                db.add(BsWalkStep(service_id=service_id, step=TERMINATED, what="terminated",
                                  message=f"data deleted after {grace_seconds} s",
                                  at=utcnow()))
        self.submit_walk(service_id)
        return self._state(service_id)

    def release(self, service_id: int) -> None:
        """Give a service up at once, with its (empty) disk safe: the service moves to
        another location. Refused once it holds recovery points (nothing is moved)."""
        with self.session() as db, db.begin():
            row = db.get(BsService, service_id)
            if row is None or row.location_id != self.location_id:
                return
            if row.recovery_points:
                raise BackupServerError("has_recovery_points",
                                        "the disk safe holds recovery points")
            row.create_status = TERMINATED  # a walk still running stops at its next step
        self.walker.remove(service_id)

    def cancel_termination(self, service_id: int) -> ServiceState:
        with self.session() as db, db.begin():
            row = self._row(db, service_id)
            if row.removed_at is not None:
                raise BackupServerError("removed", "the service's data is already deleted")
            if row.create_status == TERMINATED:
                row.create_status = row.walked
                row.delete_after = None
                row.updated_at = utcnow()
                db.add(BsWalkStep(service_id=service_id, step=row.walked,
                                  what="termination cancelled", at=utcnow()))
        self.submit_walk(service_id)
        return self._state(service_id)

    def states(self, service_ids: list[int]) -> dict[int, ServiceState]:
        if not service_ids:
            return {}
        with self.reading() as db:
            rows = db.execute(_STATES, {"service_ids": list(service_ids),
                                        "location_id": self.location_id}).all()
            tasks = tasklog.summaries(db, [row.service_id for row in rows])
            return {row.service_id: self._to_state(row, tasks.get(row.service_id))
                    for row in rows}

    def walk_log(self, service_id: int) -> list[dict]:
        with self.reading() as db:
            self._row(db, service_id)
            return _walk_log(db, service_id)

    # -- tasks ---------------------------------------------------------------------------

    def run_policy(self, service_id: int, scheduled: bool = False) -> dict:
        """Queue a backup of the service (``runPolicy``, or its schedule); a backup under
        way already is answered instead of a second one."""
        with self.session() as db, db.begin():
            row = self._row(db, service_id)
            if row.create_status == TERMINATED:
                raise BackupServerError("terminated", "the service is terminated")
            if row.create_status != READY:
                raise BackupServerError("not_ready",
                                        "the service is not ready on its backup server yet")
            task = tasklog.under_way(db, service_id, "backup")
            if task is not None:
                return tasklog.task_json(task)
            task = tasklog.new_task(db, service_id, "backup", scheduled=scheduled)
        return self.queue(task)

    def queue(self, task: BsTask) -> dict:
        """Hand a recorded (INITIALIZING) task to the queue; QUEUED unless a worker took it
        already."""
        if self._submit_task is not None:
            self._submit_task(self.location_id, task.id)
        with self.session() as db, db.begin():
            db.execute(update(BsTask).where(BsTask.id == task.id,
                                            BsTask.state == tasklog.INITIALIZING)
                       .values(state=QUEUED))
            return tasklog.task_json(db.get(BsTask, task.id))

    def policy(self, service_id: int) -> dict:
        return schedule.get_policy(self, service_id)

    def set_policy(self, service_id: int, schedule_: str | None, keep_last: int | None,
                   excludes: list[str] | None) -> dict:
        return schedule.set_policy(self, service_id, schedule_, keep_last, excludes)

    def failed_tasks(self, since: str) -> list[dict]:
        """Backups of this location that ended in ERROR since the ISO time ``since``."""
        with self.reading() as db:
            return tasklog.failed_since(db, self.location_id, datetime.fromisoformat(since))

    def recovery_points(self, service_id: int) -> list[dict]:
        return points.recovery_points(self, service_id)

    def browse(self, service_id: int, point_id: str, path: str) -> list[dict]:
        return points.browse(self, service_id, point_id, path)

    def restore(self, service_id: int, point_id: str, paths: list[str], target: str,
                overwrite: bool) -> dict:
        return points.restore(self, service_id, point_id, paths, target, overwrite)

    def download(self, service_id: int, point_id: str, paths: list[str], fmt: str):
        return points.download(self, service_id, point_id, paths, fmt)

    def task_detail(self, task_id: str) -> dict:
        with self.reading() as db:
            task = db.get(BsTask, task_id)
            if task is None or db.scalar(select(BsService.location_id).where(
                    BsService.service_id == task.service_id)) != self.location_id:
                raise BackupServerError("unknown_task", "this backup server has no such task")
            return {"service_id": task.service_id, "task": tasklog.task_json(task),
                    "messages": tasklog.messages_of(db, task_id)}

    def due_removals(self) -> list[int]:
        """Terminated services whose grace period is over and whose data is still here."""
        with self.reading() as db:
            return list(db.scalars(select(BsService.service_id).where(
                BsService.location_id == self.location_id,
                BsService.create_status == TERMINATED, BsService.removed_at.is_(None),
                BsService.delete_after <= utcnow())))

    # -- the service's own login at serverurl ---------------------------------------------

    def authenticate(self, username: str, password: str) -> int | None:
        with self.reading() as db:
            row = db.execute(select(BsUser, BsService)
                             .join(BsService, BsService.service_id == BsUser.service_id)
                             .where(BsUser.username == username,
                                    BsService.location_id == self.location_id)).first()
        if row is None:
            return None
        user, service = row
        if service.create_status == TERMINATED or service.removed_at is not None:
            return None
        expected = self.box.open(user.password_sealed).encode("utf-8")
        return service.service_id if hmac.compare_digest(expected,
                                                         password.encode("utf-8")) else None

    def view(self, service_id: int) -> dict:
        with self.reading() as db:
            row = self._row(db, service_id)
            if row.create_status == TERMINATED:
                raise BackupServerError("terminated", "this service is terminated")

            def one(model):
                return db.scalar(select(model).where(model.service_id == service_id))

            volume, safe, policy, agent = one(BsVolume), one(BsDiskSafe), one(BsPolicy), \
                one(BsAgent)
            summary = tasklog.summaries(db, [service_id]).get(service_id, tasklog.Summary())
            view = {
                "service": {"id": row.service_id, "name": row.name,
                            "location": self.location.name,
                            "create_status": row.create_status, "error": row.error},
                "agent": {"host": agent.host, "port": agent.port,
                          "key": agent.key_fingerprint or "not pinned yet",
                          "ostype": agent.ostype, "hostname": agent.hostname,
                          "version": agent.version} if agent else {},
                "volume": {"storage": volume.storage,
                           "quota_bytes": volume.quota_bytes} if volume else {},
                "disksafe": {"location": safe.location, "encrypted": safe.encrypted,
                             "disk_usage": row.disk_usage} if safe else {},
                "policy": {"name": policy.name, "schedule": policy.schedule,
                           "keep_last": policy.keep_last, "excludes": policy.excludes,
                           "enabled": policy.enabled} if policy else {},
                "tasks": [{k: t[k] for k in ("created", "type", "state", "errors", "warnings",
                                             "files", "bytes", "recoveryPointId")}
                          for t in summary.history],
                "provisioning": _walk_log(db, service_id),
            }
        if safe is not None and row.recovery_points:
            try:
                view["recovery_points"] = points.recovery_points(self, service_id)
            except BackupServerError as exc:
                view["recovery_points"] = [{"error": exc.message}]
        return view

    # -- the internal API: one JSON-in, JSON-out door to the methods above ------------------

    def rpc(self, method: str, args: dict) -> dict:
        """Run ``method`` with JSON ``args``; the JSON answer. ``BackupServerError`` for a
        refusal (the internal API sends its code and message back)."""
        try:
            return self._rpc(method, args)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupServerError("bad_arguments",
                                    f"{method}: bad arguments ({type(exc).__name__})") from exc

    def _rpc(self, method: str, args: dict) -> dict:
        if method in ("provision", "change"):
            return getattr(self, method)(ServiceSpec.from_json(args["spec"])).to_json()
        if method == "terminate":
            return self.terminate(int(args["service_id"]), int(args["grace_seconds"])).to_json()
        if method == "release":
            self.release(int(args["service_id"]))
            return {}
        if method == "cancel_termination":
            return self.cancel_termination(int(args["service_id"])).to_json()
        if method == "states":
            found = self.states([int(i) for i in args["service_ids"]])
            return {"states": [state.to_json() for state in found.values()]}
        if method == "walk_log":
            return {"steps": self.walk_log(int(args["service_id"]))}
        if method == "run_policy":
            return self.run_policy(int(args["service_id"]))
        if method == "task_detail":
            return self.task_detail(str(args["task_id"]))
        if method == "failed_tasks":
            return {"tasks": self.failed_tasks(str(args["since"]))}
        if method == "policy":
            return self.policy(int(args["service_id"]))
        if method == "set_policy":
            keep = args.get("keep_last")
            excludes = args.get("excludes")
            return self.set_policy(int(args["service_id"]), args.get("schedule"),
                                   int(keep) if keep is not None else None,
                                   [str(e) for e in excludes] if excludes is not None else None)
        if method == "recovery_points":
            return {"points": self.recovery_points(int(args["service_id"]))}
        if method == "browse":
            return {"entries": self.browse(int(args["service_id"]), str(args["point_id"]),
                                           str(args["path"]))}
        if method == "restore":
            return self.restore(int(args["service_id"]), str(args["point_id"]),
                                [str(p) for p in args["paths"]], str(args["target"]),
                                bool(args["overwrite"]))
        raise BackupServerError("unknown_method", f"no internal call named {method!r}")

    # -- helpers ---------------------------------------------------------------------------

    def _add(self, spec: ServiceSpec, shown_status: int) -> None:
        if spec.encrypt and not spec.password:
            raise BackupServerError("password_required",
                                    "an encrypted disk safe needs a password")
        with self.session() as db, db.begin():
            row = db.get(BsService, spec.service_id)
            if row is not None:
                if row.removed_at is not None:
                    raise BackupServerError("removed", "this service was removed")
                return  # provisioned already: the walk goes on
            now = utcnow()
            db.add(BsService(
                service_id=spec.service_id, location_id=self.location_id, name=spec.name,
                host=spec.host, port=spec.port, encrypt=spec.encrypt,
                password_sealed=self.box.seal(spec.password) if spec.password else None,
                create_status=shown_status, walked=0, error="", recovery_points=0,
                disk_usage=0, created_at=now, updated_at=now))

    @staticmethod
    def _check_changeable(row: BsService, spec: ServiceSpec) -> None:
        if row.create_status == TERMINATED:
            raise BackupServerError("terminated", "the service is terminated")
        wanted = row.pending_encrypt if row.pending_encrypt is not None else row.encrypt
        if spec.encrypt != wanted and row.recovery_points:
            raise BackupServerError(
                "has_recovery_points",
                "the disk safe holds recovery points: encryption cannot be turned on or off")
        if spec.encrypt and not wanted and not spec.password:
            raise BackupServerError("password_required",
                                    "an encrypted disk safe needs a password")

    def _row(self, db: Session, service_id: int) -> BsService:
        row = db.get(BsService, service_id, with_for_update=True)
        if row is None or row.location_id != self.location_id:
            raise BackupServerError("unknown_service", "this backup server has no such service")
        return row

    def _state(self, service_id: int) -> ServiceState:
        return self.states([service_id])[service_id]

    def _to_state(self, row, tasks: tasklog.Summary | None) -> ServiceState:
        """A service's state from a row of :data:`_STATES` and its tasks' summary."""
        tasks = tasks or tasklog.Summary()
        return ServiceState(
            service_id=row.service_id, create_status=row.create_status, error=row.error,
            username=row.username or "",
            password=self.box.open(row.password_sealed) if row.password_sealed else "",
            disk_usage=row.disk_usage, recovery_points=row.recovery_points,
            removed=row.removed_at is not None, status=tasks.status, running=tasks.running,
            n_alerts=tasks.n_alerts, alert_history=list(tasks.history), task=tasks.task,
            ostype=row.ostype or "", first_backup_try=row.first_backup_try,
            startup_ok=row.startup_ok, status_min_ok=row.status_min_ok)


# built once: the status calls of every dashboard come here; columns, not entities (a
# thousand services' rows load 5x faster as plain rows)
_STATES = (select(BsService.service_id, BsService.create_status, BsService.error,
                  BsService.disk_usage, BsService.recovery_points, BsService.removed_at,
                  BsService.first_backup_try, BsService.startup_ok, BsService.status_min_ok,
                  BsUser.username, BsUser.password_sealed, BsAgent.ostype)
           .outerjoin(BsUser, BsUser.service_id == BsService.service_id)
           .outerjoin(BsAgent, BsAgent.service_id == BsService.service_id)
           .where(BsService.service_id.in_(bindparam("service_ids", expanding=True)),
                  BsService.location_id == bindparam("location_id")))


def _walk_log(db: Session, service_id: int) -> list[dict]:
    steps = db.scalars(select(BsWalkStep).where(BsWalkStep.service_id == service_id)
                       .order_by(BsWalkStep.id)).all()
    return [{"step": s.step, "what": s.what, "message": s.message,
             "at": s.at.strftime("%Y-%m-%d %H:%M:%S")} for s in steps]
