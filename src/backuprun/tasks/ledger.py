"""The task ledger: every keyed task from its submission until it completes, and its lease.

Rules:
- One row per key. Submitting a key that is already there bumps its ``generation`` (and
  makes it due at once) instead of adding a row: the work is asked for again, so the run
  under way, if any, will not remove it when it completes (:meth:`Ledger.complete` only
  deletes the generation it ran).
- A lease is ``owner`` + ``lease_until`` (epoch seconds). :meth:`Ledger.claim` takes it in
  one conditional UPDATE only when it is free, expired or already the claimer's: of two
  workers, one wins. The holder renews it while it works; when it dies, the lease expires.
- :meth:`Ledger.due` lists what should be (re)enqueued: no live lease, next try due.
- Every operation is one statement or one short transaction, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from backuprun.sqlutil import NAMING

metadata = MetaData(naming_convention=NAMING)

task_ledger = Table(
    "task_ledger", metadata,
    Column("key", String(200), primary_key=True),
    Column("queue", String(100), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("args", Text, nullable=False),  # JSON array
    Column("generation", Integer, nullable=False),
    Column("owner", String(100), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("next_try_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class Entry:
    key: str
    queue: str
    name: str
    args: list
    generation: int
    owner: str | None
    lease_until: float | None
    attempts: int
    last_error: str
    next_try_at: float


class Ledger:
    def __init__(self, engine: Engine):
        self.engine = engine

    def submit(self, key: str, queue: str, name: str, args: list,
               now: float | None = None) -> None:
        now = time.time() if now is None else now
        values = dict(queue=queue, name=name, args=json.dumps(args))
        with self.engine.begin() as conn:
            bumped = conn.execute(update(task_ledger).where(task_ledger.c.key == key).values(
                generation=task_ledger.c.generation + 1, next_try_at=now, **values)).rowcount
        if bumped:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(task_ledger).values(
                    key=key, generation=1, owner=None, lease_until=None, attempts=0,
                    last_error="", next_try_at=now, created_at=now, **values))
        except IntegrityError:  # submitted meanwhile by someone else: ask again
            self.submit(key, queue, name, args, now)

    def claim(self, key: str, owner: str, ttl: float, now: float | None = None) -> int | None:
        """Take the lease; the generation being run, or None when someone else holds it
        (or the task is done)."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            taken = conn.execute(update(task_ledger).where(
                task_ledger.c.key == key,
                or_(task_ledger.c.owner.is_(None), task_ledger.c.owner == owner,
                    task_ledger.c.lease_until < now),
            ).values(owner=owner, lease_until=now + ttl)).rowcount
            if not taken:
                return None
            return conn.scalar(select(task_ledger.c.generation)
                               .where(task_ledger.c.key == key))

    def renew(self, key: str, owner: str, ttl: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return bool(conn.execute(update(task_ledger).where(
                task_ledger.c.key == key, task_ledger.c.owner == owner,
            ).values(lease_until=now + ttl)).rowcount)

    def complete(self, key: str, owner: str, generation: int) -> bool:
        """Remove the entry if what ran is still what was asked; else free it (asked again
        meanwhile: it stays due) and answer False."""
        with self.engine.begin() as conn:
            done = conn.execute(delete(task_ledger).where(
                task_ledger.c.key == key, task_ledger.c.owner == owner,
                task_ledger.c.generation == generation)).rowcount
            if not done:
                conn.execute(update(task_ledger).where(
                    task_ledger.c.key == key, task_ledger.c.owner == owner,
                ).values(owner=None, lease_until=None))
        return bool(done)

    def fail(self, key: str, owner: str, error: str, next_try_at: float) -> None:
        """Free the lease, keep the error, and try again from ``next_try_at``."""
        with self.engine.begin() as conn:
            conn.execute(update(task_ledger).where(
                task_ledger.c.key == key, task_ledger.c.owner == owner,
            ).values(owner=None, lease_until=None, last_error=error[:2000],
                     attempts=task_ledger.c.attempts + 1, next_try_at=next_try_at))

    def due(self, queue: str, now: float | None = None) -> list[Entry]:
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            rows = conn.execute(select(task_ledger).where(
                task_ledger.c.queue == queue, task_ledger.c.next_try_at <= now,
                or_(task_ledger.c.owner.is_(None),
                    and_(task_ledger.c.lease_until.is_not(None),
                         task_ledger.c.lease_until < now)),
            ).order_by(task_ledger.c.created_at)).all()
        return [_entry(row) for row in rows]

    def get(self, key: str) -> Entry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(task_ledger).where(task_ledger.c.key == key)).first()
        return _entry(row) if row else None


def _entry(row) -> Entry:
    return Entry(key=row.key, queue=row.queue, name=row.name, args=json.loads(row.args),
                 generation=row.generation, owner=row.owner, lease_until=row.lease_until,
                 attempts=row.attempts, last_error=row.last_error,
                 next_try_at=row.next_try_at)
