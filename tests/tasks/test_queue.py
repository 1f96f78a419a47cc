"""The task queue: ledger leases, retries and cool-down, and worker processes that never run
one task twice and take up a killed worker's task (Redis + PostgreSQL, and SQLite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from backuprun.sqlutil import make_sync_engine
from backuprun.tasks.ledger import Ledger
from backuprun.tasks.ledger import metadata as ledger_metadata
from backuprun.tasks.queue import TASK_NICENESS, TaskQueue

from .worker_app import make_queue, runs, starts

WORKER = Path(__file__).with_name("worker_app.py")


def ledger_for(db_url: str) -> Ledger:
    engine = make_sync_engine(db_url)
    ledger_metadata.create_all(engine)
    return Ledger(engine)


def wait_for(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- the ledger ------------------------------------------------------------------------------


def test_one_of_many_concurrent_claims_wins(db_url):
    ledger = ledger_for(db_url)
    ledger.submit("k", "q", "t", [1])
    won, barrier = [], threading.Barrier(8)

    def claim(i):
        barrier.wait()
        if ledger.claim("k", f"owner-{i}", 30) is not None:
            won.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert ledger.claim("k", "late", 30) is None
    assert ledger.claim("k", "late", 30, now=time.time() + 31) is not None  # expired


def test_submitted_again_while_running_is_not_completed(db_url):
    ledger = ledger_for(db_url)
    ledger.submit("k", "q", "t", [])
    generation = ledger.claim("k", "me", 30)
    ledger.submit("k", "q", "t", [])  # asked again while it runs
    assert not ledger.complete("k", "me", generation)
    entry = ledger.get("k")
    assert entry.owner is None and entry.generation == generation + 1
    assert [e.key for e in ledger.due("q")] == ["k"]
    generation = ledger.claim("k", "me", 30)
    assert ledger.complete("k", "me", generation)
    assert ledger.get("k") is None


def test_failure_keeps_the_error_until_the_cool_down(db_url):
    ledger = ledger_for(db_url)
    ledger.submit("k", "q", "t", [])
    ledger.claim("k", "me", 30)
    ledger.fail("k", "me", "OSError: storage down", time.time() + 60)
    entry = ledger.get("k")
    assert (entry.owner, entry.attempts, entry.last_error) == (None, 1, "OSError: storage down")
    assert ledger.due("q") == []
    assert [e.key for e in ledger.due("q", now=time.time() + 61)] == ["k"]


# -- a queue in this process ---------------------------------------------------------------


def test_retries_then_cool_down_then_success(tmp_path, sqlite_db):
    engine = make_sync_engine(sqlite_db)
    ledger_metadata.create_all(engine)
    queue = TaskQueue(f"sqlite:///{tmp_path / 'q.db'}", engine, "retry", lease_ttl=5,
                      reconcile_every=0.2, cooldown=0.5)
    calls, healthy = [], threading.Event()

    @queue.keyed_task(name="flaky", retries=2, retry_delay=0.1, retry_backoff=2)
    def flaky(n):
        calls.append(time.monotonic())
        if not healthy.is_set():
            raise OSError(f"storage down ({n})")

    workers = queue.start_workers(1)
    try:
        flaky.submit("flaky:1", 1)
        wait_for(lambda: len(calls) >= 3, what="three tries")
        wait_for(lambda: queue.ledger.get("flaky:1").attempts >= 1, what="the recorded error")
        assert "storage down (1)" in queue.ledger.get("flaky:1").last_error
        healthy.set()
        wait_for(lambda: queue.ledger.get("flaky:1") is None, what="the retry after cool-down")
    finally:
        workers.stop()
    assert len(calls) >= 4


def test_a_task_submitted_in_the_process_wakes_an_idle_worker(tmp_path, sqlite_db, monkeypatch):
    monkeypatch.setattr("backuprun.tasks.queue.POLL_MAX_DELAY", 60)  # as if polls were rare
    engine = make_sync_engine(sqlite_db)
    ledger_metadata.create_all(engine)
    queue = TaskQueue(f"sqlite:///{tmp_path / 'q.db'}", engine, "wake", reconcile_every=600)
    ran = threading.Event()
    task = queue.keyed_task(name="t")(lambda: ran.set())
    workers = queue.start_workers(1)
    for worker, _thread in workers._consumer.worker_threads:
        worker.delay = 60  # long idle: its next poll is a minute away
    try:
        time.sleep(1)
        task.submit("t:1")
        assert ran.wait(20), "the worker slept on until its next poll"
    finally:
        workers.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own priority is Linux's")
def test_tasks_run_at_a_lower_cpu_priority_than_the_process(tmp_path, sqlite_db):
    engine = make_sync_engine(sqlite_db)
    ledger_metadata.create_all(engine)
    queue = TaskQueue(f"sqlite:///{tmp_path / 'q.db'}", engine, "nice", reconcile_every=600)
    seen: list[int] = []
    done = threading.Event()

    def report() -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        done.set()

    task = queue.keyed_task(name="t")(report)
    workers = queue.start_workers(1)
    try:
        task.submit("t:1")
        assert done.wait(20)
    finally:
        workers.stop()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < TASK_NICENESS
    assert seen == [TASK_NICENESS]  # the worker's thread, not the process it runs in


# -- worker processes ----------------------------------------------------------------------


def start_worker(queue_url: str, db_url: str, name: str, ttl: float = 2) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(WORKER), queue_url, db_url, name, str(ttl)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stdout.read()
    return proc


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rows(queue: TaskQueue, table):
    with queue.ledger.engine.connect() as conn:
        return conn.execute(select(table)).all()


@pytest.mark.redis
@pytest.mark.postgres
def test_two_workers_never_run_one_task_twice(redis_queue, postgres_db):
    queue_url, name = redis_queue
    queue = make_queue(queue_url, postgres_db, name)
    a = start_worker(queue_url, postgres_db, name)
    b = start_worker(queue_url, postgres_db, name)
    try:
        keys = [f"record:{i}" for i in range(30)]
        for key in keys:
            queue.record.submit(key, key, 1, 0.05)
        for key in keys[:10]:  # the same work asked again while queued or running
            queue.record.submit(key, key, 1, 0.05)
        wait_for(lambda: all(queue.ledger.get(k) is None for k in keys), what="all tasks")
    finally:
        stop(a, b)
    done = rows(queue, runs)
    assert sorted(r.key for r in done) == sorted(keys)
    assert {r.pid for r in done} == {a.pid, b.pid}  # both worked
    by_key: dict[str, list] = {}
    for start in rows(queue, starts):
        by_key.setdefault(start.key, []).append((float(start.at), float(start.end)))
    for key, spans in by_key.items():  # runs of one key never overlap
        spans.sort()
        assert all(s[1] <= t[0] for s, t in zip(spans, spans[1:])), (key, spans)


def _killed_worker_task_is_taken_up(queue_url: str, db_url: str, name: str) -> None:
    queue = make_queue(queue_url, db_url, name)
    a = start_worker(queue_url, db_url, name, ttl=1)
    b = None
    try:
        queue.record.submit("slow", "slow", 6, 0.4)
        wait_for(lambda: len(rows(queue, runs)) >= 2, what="the first steps")
        holder = queue.ledger.get("slow").owner
        assert holder and f":{a.pid}:" in holder
        a.send_signal(signal.SIGKILL)
        a.wait()
        b = start_worker(queue_url, db_url, name, ttl=1)
        wait_for(lambda: queue.ledger.get("slow") is None, what="the other worker")
    finally:
        stop(*(p for p in (a, b) if p is not None))
    done = rows(queue, runs)
    assert sorted(r.step for r in done) == list(range(6))  # every step once
    assert {r.pid for r in done} == {a.pid, b.pid}


@pytest.mark.redis
@pytest.mark.postgres
def test_killed_workers_task_runs_again_on_redis(redis_queue, postgres_db):
    queue_url, name = redis_queue
    _killed_worker_task_is_taken_up(queue_url, postgres_db, name)


def test_killed_workers_task_runs_again_on_sqlite(tmp_path, sqlite_db):
    _killed_worker_task_is_taken_up(f"sqlite:///{tmp_path / 'q.db'}", sqlite_db, "embedded")
