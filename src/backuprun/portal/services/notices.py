"""E-mail when a backup ends in ERROR, to accounts with ``notify`` on.

Each portal process looks every ``notify_check_seconds`` at the backups that failed in the
last :data:`LOOKBACK` on every location. A failed task is claimed by inserting its row in
``task_notices`` first: of several processes looking at once, one inserts it and sends the
mail; a task is never mailed about twice. Rows older than twice the lookback are removed. The mail goes to ``notify_email``, or to the
account's own address when that is empty.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from backuprun.backupserver.client import BackupServerClient, BackupServerError
from backuprun.portal.db.models import Account, Service, TaskNotice
from backuprun.portal.mail import Mailer
from backuprun.portal.services.rules import wire_service_id
from backuprun.sqlutil import utcnow

log = logging.getLogger(__name__)
LOOKBACK = timedelta(hours=24)


class Notifier:
    def __init__(self, db: async_sessionmaker, mailer: Mailer,
                 servers: dict[int, BackupServerClient], every: float):
        self.db, self.mailer, self.servers, self.every = db, mailer, servers, every

    async def run(self) -> None:
        """Look, then wait ``every`` seconds, until cancelled."""
        while True:
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - a database or server hiccup: next round
                log.exception("looking for failed backups failed")
            await asyncio.sleep(self.every)

    async def check(self) -> int:
        """Mail about failed backups not mailed about yet; how many mails were sent."""
        now = utcnow()
        since = (now - LOOKBACK).isoformat()
        async with self.db() as db, db.begin():  # rows past the lookback are never asked for
            await db.execute(delete(TaskNotice).where(TaskNotice.sent_at < now - 2 * LOOKBACK))
        sent = 0
        for location_id, server in self.servers.items():
            try:
                failed = await server.failed_tasks(since)
            except BackupServerError as exc:
                log.warning("location %s: %s", location_id, exc.message)
                continue
            for task in failed:
                sent += await self._notify(task)
        return sent

    async def _notify(self, task: dict) -> int:
        try:
            async with self.db() as db, db.begin():
                db.add(TaskNotice(task_id=task["taskExecutionContextId"],
                                  service_id=task["service_id"], sent_at=utcnow()))
        except IntegrityError:
            return 0  # told already, by this process or another
        async with self.db.reading() as db:
            service = await db.get(Service, task["service_id"])
            owner = await db.get(Account, service.account_id) if service else None
        if owner is None or not owner.notify:
            return 0
        wire_id = wire_service_id(service.kind, service.id)
        body = (f"The backup of {service.name} ({wire_id}, {service.host}) failed at "
                f"{task['finished'][:19].replace('T', ' ')} UTC:\n\n  {task['reason']}\n\n"
                f"The task's whole log: getTaskDetailById with taskExecutionContextId "
                f"{task['taskExecutionContextId']}.\n")
        self.mailer.submit(self.mailer.compose(owner.notify_email or owner.email,
                                               f"Backup failed: {service.name} ({wire_id})",
                                               body))
        return 1
