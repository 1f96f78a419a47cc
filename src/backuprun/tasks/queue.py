"""A durable queue for one name: huey for delivery, retries and periodic work; the ledger
(:mod:`.ledger`) for "one live run per key, taken up again when its worker dies".

A keyed task runs like this:

1. ``submit(key, *args)`` writes (or bumps) the ledger entry, then enqueues in huey.
2. A worker claims the entry's lease; if another holds it (or the work is done), the message
   is dropped: the holder does the work. A heartbeat renews the lease while it runs.
3. Success: the entry is removed, unless it was submitted again meanwhile (then it is
   enqueued again). Failure: huey retries with backoff; when the retries are used up, the
   entry keeps the error and is tried again after ``cooldown``.
4. The reconciler, run when workers start and every ``reconcile_every`` seconds, enqueues
   every entry that has no live lease and is due: a killed worker's task, one whose huey
   message was lost, one cooling down.

Workers' threads run at nice 10 (:data:`TASK_NICENESS`, Linux): a backup is throughput
work, the API's calls in the same process or on the same machine are latency work
(bench/api_poll.py while a 1 GB backup runs: 250 status calls/s with the worker at the
normal priority, 380-420 at nice 10; the dashboards' p50 430 ms, then 30-65 ms).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable

import huey
from huey.consumer import Consumer, Worker
from sqlalchemy import Engine

from backuprun.config import ConfigError
from backuprun.lanes import lower_priority
from backuprun.tasks.ledger import Ledger

log = logging.getLogger(__name__)

TASK_NICENESS = 10  # the CPU priority of a worker's thread (and of the threads it starts)
POLL_MAX_DELAY = 1.0  # seconds between polls of an idle SQLite or PostgreSQL queue, at most


def make_huey(queue_url: str, name: str) -> huey.Huey:
    """The huey instance for ``queue_url``: ``sqlite:///path``, ``redis://...`` or
    ``postgresql://...``."""
    if queue_url.startswith("sqlite:///"):
        path = queue_url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return huey.SqliteHuey(name, filename=path, timeout=30)
    if queue_url.startswith(("redis://", "rediss://", "unix://")):
        return huey.RedisHuey(name, url=queue_url)
    if queue_url.startswith(("postgresql://", "postgres://")):
        return huey.PostgresHuey(name, dsn=queue_url)
    raise ConfigError(f"task_queue_url must be sqlite:///path, redis://host:port/db or "
                      f"postgresql://..., not {queue_url.split(':', 1)[0]}:")


class _WakeableWorker(Worker):
    """A worker whose idle wait ends early when a task is enqueued in this process
    (:attr:`wake`), instead of at its next poll of a SQLite or PostgreSQL queue (up to
    ``POLL_MAX_DELAY`` later): a task asked for through the API starts at once."""

    wake: threading.Event

    def initialize(self) -> None:
        """In the worker's thread, first: tasks are throughput work (a backup, a walk), the
        API's calls are latency work; on a shared machine the calls go first."""
        lower_priority(TASK_NICENESS)

    def sleep(self) -> None:
        if self.wake.wait(min(self.delay, self.max_delay)):
            self.wake.clear()
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


class _InProcessConsumer(Consumer):
    """A consumer that leaves the host process's signal handlers alone, its workers woken
    by ``wake``."""

    worker_class = _WakeableWorker

    def __init__(self, *args: Any, wake: threading.Event, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for worker, _thread in self.worker_threads:
            worker.wake = wake

    def _set_signal_handlers(self) -> None:
        pass


class Workers:
    """Running workers of one queue; ``stop()`` waits for the tasks under way (bounded)."""

    def __init__(self, consumer: Consumer, reconciler: threading.Thread,
                 stopping: threading.Event):
        self._consumer, self._reconciler, self._stopping = consumer, reconciler, stopping

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self._consumer.shutdown_timeout = timeout
        self._consumer.stop(graceful=True)
        self._reconciler.join(timeout)


class KeyedTask:
    """A task run at most once at a time per key; see the module's rules."""

    def __init__(self, queue: "TaskQueue", fn: Callable[..., Any], name: str,
                 retries: int, retry_delay: float, retry_backoff: float):
        self.queue, self.fn, self.name = queue, fn, name
        self._message = queue.huey.task(retries=retries, retry_delay=retry_delay,
                                        retry_backoff=retry_backoff, context=True,
                                        name=f"{queue.name}.{name}")(self._run)

    def submit(self, key: str, *args: Any) -> None:
        self.queue.ledger.submit(key, self.queue.name, self.name, list(args))
        self.enqueue(key, *args)

    def enqueue(self, key: str, *args: Any) -> None:
        self._message(key, *args)
        self.queue.wake.set()

    def _run(self, key: str, *args: Any, task=None) -> None:
        ledger, ttl = self.queue.ledger, self.queue.lease_ttl
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        generation = ledger.claim(key, owner, ttl)
        if generation is None:
            return  # someone holds it, or it is done
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(key, owner, stop),
                                name=f"lease {key}", daemon=True)
        beat.start()
        try:
            self.fn(*args)
        except Exception as exc:
            last = task is None or not task.retries
            ledger.fail(key, owner, f"{type(exc).__name__}: {exc}",
                        time.time() + (self.queue.cooldown if last else ttl))
            raise
        finally:
            stop.set()
            beat.join()
        if not ledger.complete(key, owner, generation):
            self.enqueue(key, *args)  # asked again while it ran

    def _heartbeat(self, key: str, owner: str, stop: threading.Event) -> None:
        ttl = self.queue.lease_ttl
        while not stop.wait(ttl / 3):
            if not self.queue.ledger.renew(key, owner, ttl):
                log.warning("task %s lost its lease; another worker may take it up", key)
                return


class TaskQueue:
    def __init__(self, queue_url: str, engine: Engine, name: str, lease_ttl: float = 60,
                 reconcile_every: float = 15, cooldown: float = 300):
        self.name = name
        self.huey = make_huey(queue_url, name)
        self.ledger = Ledger(engine)
        self.lease_ttl = float(lease_ttl)
        self.reconcile_every = float(reconcile_every)
        self.cooldown = float(cooldown)
        self._keyed: dict[str, KeyedTask] = {}
        self.wake = threading.Event()  # set when a task is enqueued here: workers look now

    def keyed_task(self, name: str, retries: int = 4, retry_delay: float = 1,
                   retry_backoff: float = 2) -> Callable[[Callable[..., Any]], KeyedTask]:
        def register(fn: Callable[..., Any]) -> KeyedTask:
            task = KeyedTask(self, fn, name, retries, retry_delay, retry_backoff)
            self._keyed[name] = task
            return task
        return register

    def periodic(self, minutes: int, name: str) -> Callable[[Callable[[], Any]], Any]:
        """Run ``fn`` every ``minutes`` minutes on one of the queue's workers (huey's
        scheduler; minute granularity)."""
        return self.huey.periodic_task(huey.crontab(minute=f"*/{minutes}"),
                                       name=f"{self.name}.{name}")

    def reconcile(self) -> int:
        """Enqueue every entry without a live lease whose next try is due."""
        count = 0
        for entry in self.ledger.due(self.name):
            task = self._keyed.get(entry.name)
            if task is None:
                log.warning("ledger entry %s names no task %r here", entry.key, entry.name)
                continue
            task.enqueue(entry.key, *entry.args)
            count += 1
        return count

    def start_workers(self, workers: int = 1) -> Workers:
        """Start ``workers`` worker threads, the scheduler and the reconciler, in this
        process (no signal handlers are installed)."""
        consumer = _InProcessConsumer(self.huey, workers=workers, worker_type="thread",
                                      max_delay=POLL_MAX_DELAY, check_worker_health=False,
                                      wake=self.wake)
        stopping = threading.Event()
        reconciler = threading.Thread(target=self._reconcile_loop, args=(stopping,),
                                      name=f"reconciler {self.name}", daemon=True)
        consumer.start()
        reconciler.start()
        return Workers(consumer, reconciler, stopping)

    def _reconcile_loop(self, stopping: threading.Event) -> None:
        while True:
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - the database may be down for a while
                log.exception("reconciling queue %s failed; trying again", self.name)
            if stopping.wait(self.reconcile_every):
                return
