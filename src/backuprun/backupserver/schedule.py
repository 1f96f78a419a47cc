"""Policy schedules: when each service's next backup is due, and starting the due ones.

A schedule is ``manual`` (only ``runPolicy``), ``hourly``, ``daily``, ``weekly`` or
``every N`` with a unit, ``s``, ``m``, ``h`` or ``d`` (``every 30m``). The first scheduled
backup comes one interval after the policy was made or its schedule changed; each run sets
the next one interval later. Several hosts may look at once: a policy's next run is moved
with a compare-and-set, so exactly one of them queues the backup (and a backup already
under way is never doubled, see ``BackupServer.run_policy``).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from backuprun.backupserver.client import BackupServerError
from backuprun.backupserver.models import READY, BsPolicy, BsService
from backuprun.sqlutil import utcnow

if TYPE_CHECKING:
    from backuprun.backupserver.server import BackupServer

log = logging.getLogger(__name__)
NAMED = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"every\s+(\d+)\s*([smhd])")
MIN_SECONDS = 1


def first_run(schedule: str):
    """When a policy given ``schedule`` now first runs (None for ``manual``)."""
    interval = interval_of(schedule)
    return None if interval is None else utcnow() + timedelta(seconds=interval)


def interval_of(schedule: str) -> int | None:
    """Seconds between scheduled backups; None for ``manual``. ``ValueError`` if unknown."""
    text = schedule.strip().lower()
    if text == "manual":
        return None
    if text in NAMED:
        return NAMED[text]
    match = _EVERY.fullmatch(text)
    if match is None or int(match.group(1)) * UNITS[match.group(2)] < MIN_SECONDS:
        raise ValueError(f"schedule {schedule!r}: give manual, hourly, daily, weekly or "
                         "'every N' with s, m, h or d (every 30m)")
    return int(match.group(1)) * UNITS[match.group(2)]


MAX_KEEP = 10_000
MAX_EXCLUDES = 64  # fewer than the fields a request may carry (forms.MAX_FIELDS)
MAX_EXCLUDE_LENGTH = 4096


def get_policy(server: "BackupServer", service_id: int) -> dict:
    with server.reading() as db:
        policy = _policy(db, server, service_id)
        return _policy_json(policy)


def set_policy(server: "BackupServer", service_id: int, schedule: str | None,
               keep_last: int | None, excludes: list[str] | None) -> dict:
    """Change what is given (None: unchanged); a new schedule starts its clock now."""
    if schedule is not None:
        try:
            interval_of(schedule)
        except ValueError as exc:
            raise BackupServerError("invalid_schedule", str(exc)) from None
    if keep_last is not None and not 1 <= keep_last <= MAX_KEEP:
        raise BackupServerError("invalid_keep_last", f"keep_last is 1 to {MAX_KEEP}")
    if excludes is not None:
        excludes = [e.strip() for e in excludes if e.strip()]
        if len(excludes) > MAX_EXCLUDES or any(len(e) > MAX_EXCLUDE_LENGTH or "\n" in e
                                               or "\0" in e for e in excludes):
            raise BackupServerError("invalid_excludes",
                                    f"at most {MAX_EXCLUDES} excludes, one path each")
    with server.session() as db, db.begin():
        policy = _policy(db, server, service_id, lock=True)
        if schedule is not None:
            policy.schedule = schedule.strip().lower()
            policy.next_run_at = first_run(policy.schedule)
        if keep_last is not None:
            policy.keep_last = keep_last
        if excludes is not None:
            policy.excludes = "\n".join(excludes)
        return _policy_json(policy)


def _policy(db, server: "BackupServer", service_id: int, lock: bool = False) -> BsPolicy:
    row = db.get(BsService, service_id)
    query = select(BsPolicy).where(BsPolicy.service_id == service_id)
    policy = db.scalar(query.with_for_update() if lock else query)
    if row is None or row.location_id != server.location_id:
        raise BackupServerError("unknown_service", "this backup server has no such service")
    if policy is None:
        raise BackupServerError("not_ready", "the service has no policy yet")
    return policy


def _policy_json(policy: BsPolicy) -> dict:
    return {"name": policy.name, "schedule": policy.schedule, "keep_last": policy.keep_last,
            "excludes": [e for e in policy.excludes.splitlines() if e],
            "next_run": policy.next_run_at.isoformat() if policy.next_run_at else ""}


def run_due(server: "BackupServer") -> int:
    """Queue the backups whose time has come; how many were queued."""
    now = utcnow()
    with server.reading() as db:
        rows = db.execute(select(BsPolicy.service_id, BsPolicy.schedule, BsPolicy.next_run_at)
                          .join(BsService, BsService.service_id == BsPolicy.service_id)
                          .where(BsService.location_id == server.location_id,
                                 BsService.create_status == READY,
                                 BsPolicy.enabled.is_(True))).all()
    queued = 0
    for service_id, schedule, next_run_at in rows:
        try:
            interval = interval_of(schedule)
        except ValueError as exc:
            log.warning("service %s: %s", service_id, exc)
            continue
        if interval is None or (next_run_at is not None and next_run_at > now):
            continue
        with server.session() as db, db.begin():
            moved = db.execute(update(BsPolicy).where(
                BsPolicy.service_id == service_id,
                BsPolicy.next_run_at.is_(None) if next_run_at is None
                else BsPolicy.next_run_at == next_run_at)
                .values(next_run_at=now + timedelta(seconds=interval))).rowcount
        if not moved or next_run_at is None:
            continue  # another host took it; or first seen: the clock starts now
        try:
            server.run_policy(service_id, scheduled=True)
            queued += 1
        except BackupServerError as exc:
            log.warning("service %s: scheduled backup not queued: %s", service_id, exc)
    return queued
