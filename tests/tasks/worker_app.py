"""A worker process for the queue's process tests: ``python worker_app.py QUEUE_URL DB_URL
NAME [LEASE_TTL]``. Its task ``record(key, steps, pause)`` does ``steps`` steps, each an
idempotent row ``(key, step)`` in ``runs`` (a step already there is skipped), plus a row in
``starts`` for every run that began, with this process's id; it pauses ``pause`` seconds
before each step."""

from __future__ import annotations

import os
import sys
import time

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from backuprun.sqlutil import make_sync_engine
from backuprun.tasks.ledger import metadata as ledger_metadata
from backuprun.tasks.queue import TaskQueue

metadata = MetaData()
runs = Table("runs", metadata, Column("key", String(100), primary_key=True),
             Column("step", Integer, primary_key=True), Column("pid", Integer))
starts = Table("starts", metadata, Column("id", Integer, primary_key=True),
               Column("key", String(100)), Column("pid", Integer),
               Column("at", String(40)), Column("end", String(40)))


def make_queue(queue_url: str, db_url: str, name: str, lease_ttl: float = 2) -> TaskQueue:
    engine = make_sync_engine(db_url)
    ledger_metadata.create_all(engine)
    metadata.create_all(engine)
    queue = TaskQueue(queue_url, engine, name, lease_ttl=lease_ttl, reconcile_every=0.3,
                      cooldown=0.5)

    @queue.keyed_task(name="record", retries=0)
    def record(key: str, steps: int, pause: float) -> None:
        with engine.begin() as conn:
            start = conn.execute(insert(starts).values(
                key=key, pid=os.getpid(), at=repr(time.time()))).inserted_primary_key[0]
        for step in range(steps):
            with engine.begin() as conn:
                if conn.scalar(select(runs.c.pid).where(runs.c.key == key,
                                                        runs.c.step == step)):
                    continue
            time.sleep(pause)
            try:
                with engine.begin() as conn:
                    conn.execute(insert(runs).values(key=key, step=step, pid=os.getpid()))
            except IntegrityError:
                pass
        with engine.begin() as conn:
            conn.execute(starts.update().where(starts.c.id == start)
                         .values(end=repr(time.time())))

    queue.record = record
    return queue


if __name__ == "__main__":
    queue_url, db_url, name = sys.argv[1:4]
    ttl = float(sys.argv[4]) if len(sys.argv) > 4 else 2
    queue = make_queue(queue_url, db_url, name, ttl)
    workers = queue.start_workers(2)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        workers.stop()
