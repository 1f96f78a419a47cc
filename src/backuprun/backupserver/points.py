"""Reading a service's recovery points: list them, browse a folder, restore, download.

Each call uses the service's disk safe, opened with its password (kept open between
calls: :mod:`.safes`). Errors the caller made (a point
or path that does not exist, a bad path) are :class:`BackupServerError` with a stable code,
raised before anything is queued or streamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select

from backuprun.backupserver import tasklog
from backuprun.backupserver.client import BackupServerError
from backuprun.backupserver.models import READY, TERMINATED, BsDiskSafe, BsService, BsTask
from backuprun.disksafe import export
from backuprun.disksafe.errors import (DiskSafeError, InvalidPath, PathNotFound, PointNotFound,
                                       SafeLocked)
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import entries_of
from backuprun.storage import StorageError, open_storage

if TYPE_CHECKING:
    from backuprun.backupserver.server import BackupServer

FORMATS = export.FORMATS
_TYPES = {"f": "file", "d": "dir", "l": "symlink", "c": "chardev", "b": "blockdev",
          "p": "fifo", "s": "socket"}


def open_safe(server: "BackupServer", service_id: int, load_index: bool = True) -> Repository:
    """The service's disk safe, opened; ``BackupServerError`` when it cannot be."""
    with server.reading() as db:
        row = db.get(BsService, service_id)
        safe = db.scalar(select(BsDiskSafe).where(BsDiskSafe.service_id == service_id))
    if row is None or row.location_id != server.location_id:
        raise BackupServerError("unknown_service", "this backup server has no such service")
    if row.create_status == TERMINATED:
        raise BackupServerError("terminated", "the service is terminated")
    if safe is None:
        raise BackupServerError("not_ready", "the service has no disk safe yet")
    password = server.safe_password(row.password_sealed) if safe.encrypted else None
    key = (service_id, safe.location, safe.safe_id, row.password_sealed if safe.encrypted else None)
    try:
        return server.safes.get(key, lambda: Repository.open(open_storage(safe.location),
                                                             password, load_index=True),
                                fresh_index=load_index)
    except (DiskSafeError, StorageError, OSError) as exc:
        raise BackupServerError("disk_safe_unavailable", f"the disk safe cannot be used: {exc}") \
            from None


def recovery_points(server: "BackupServer", service_id: int) -> list[dict]:
    """The service's recovery points, newest first."""
    repo = open_safe(server, service_id, load_index=False)
    points = repo.points()
    with server.reading() as db:
        made_by = dict(db.execute(select(BsTask.recovery_point, BsTask.id).where(
            BsTask.service_id == service_id, BsTask.kind == "backup",
            BsTask.recovery_point.is_not(None))).all())
    return [{"id": p.id, "created": _iso(p.time), "files": int(p.stats.get("files", 0)),
             "bytes": int(p.stats.get("bytes_total", 0)), "task": made_by.get(p.id, "")}
            for p in reversed(points)]


def browse(server: "BackupServer", service_id: int, point_id: str, path: str) -> list[dict]:
    """The entries of the folder ``path`` in a recovery point, by name."""
    repo = open_safe(server, service_id)
    point = _point(repo, point_id)
    ((shown, entry),) = _resolve(repo, point, [path or "/"])
    if entry["t"] != "d":
        raise BackupServerError("not_a_folder", f"{shown} is not a folder")
    entries = entries_of(repo.load_tree(entry["st"])) if entry.get("st") else []
    return [{"name": os.fsdecode(e["n"]), "type": _TYPES.get(e["t"], e["t"]),
             "size": int(e.get("sz", 0)), "mtime": _iso(e.get("mt", 0) / 1e9),
             "mode": f"{e.get('m', 0):04o}",
             "target": os.fsdecode(e["lt"]) if e["t"] == "l" else ""} for e in entries]


def restore(server: "BackupServer", service_id: int, point_id: str, paths: list[str],
            target: str, overwrite: bool) -> dict:
    """Check the request, record the restore task and queue it."""
    try:
        target = export.normalise(target or "/")
    except InvalidPath as exc:
        raise BackupServerError("invalid_path", str(exc)) from None
    repo = open_safe(server, service_id)
    point = _point(repo, point_id)
    _resolve(repo, point, paths)
    with server.session() as db, db.begin():
        row = db.get(BsService, service_id, with_for_update=True)
        if row.create_status != READY:
            raise BackupServerError("not_ready", "the service is not ready on its backup server")
        task = tasklog.new_task(db, service_id, "restore",
                                args={"point": point.id, "paths": list(paths),
                                      "target": target, "overwrite": overwrite})
    return server.queue(task)


def download(server: "BackupServer", service_id: int, point_id: str, paths: list[str],
             fmt: str) -> Iterator[bytes]:
    """The archive's pieces; the first is read here, so that every error the caller could
    be told about (a missing path, a safe held by a backup) comes before the first byte."""
    if fmt not in FORMATS:
        raise BackupServerError("invalid_format", f"format is {' or '.join(FORMATS)}")
    repo = open_safe(server, service_id)
    point = _point(repo, point_id)
    pieces = export.stream(repo, point, _resolve(repo, point, paths), fmt)
    try:
        first = next(pieces, b"")
    except SafeLocked as exc:
        raise BackupServerError("busy", f"the disk safe is busy: {exc}") from None
    return _chained(first, pieces)


def _chained(first: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``first``, then the rest; closing it closes ``pieces`` (which releases the lock)."""
    yield first
    yield from pieces


def _point(repo: Repository, point_id: str) -> RecoveryPoint:
    if not point_id or point_id == "latest" or len(point_id) > 64:
        raise BackupServerError("unknown_recovery_point", "no such recovery point")
    try:
        point = repo.find_point(point_id)
    except PointNotFound:
        raise BackupServerError("unknown_recovery_point", "no such recovery point") from None
    if point.id != point_id:  # a prefix is not an id on the wire
        raise BackupServerError("unknown_recovery_point", "no such recovery point")
    return point


def _resolve(repo: Repository, point: RecoveryPoint, paths: list[str]):
    try:
        return export.resolve(repo, point, paths)
    except InvalidPath as exc:
        raise BackupServerError("invalid_path", str(exc)) from None
    except PathNotFound as exc:
        raise BackupServerError("path_not_found", str(exc)) from None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()

