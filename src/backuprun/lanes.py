"""Threads for short synchronous work done for the event loop: the database reads that
nearly every API call makes (its session, its service, the service's status); and, the
other way round, :func:`lower_priority` for threads whose work may wait (hashing a
password, a backup task), so the CPU goes to the calls first.

Rule: such work runs on a :class:`Lane` of a few threads, not on anyio's default pool of
40. Python threads take turns on one interpreter lock; with dozens of them runnable at once
the hand-offs cost more than the reads (measured with bench/api_poll.py, 100 clients
polling ``getBackupStatus`` on SQLite: 250 calls/s through the default pool, 570 through 2
threads, 620 through 1). On PostgreSQL a read mostly waits for the server's answer with the
lock released, so more threads pay (200 clients, both status calls: 290 calls/s with 2
threads, 360 to 425 with 4 to 8): :func:`threads_for`. Slow work (a download, opening a big
disk safe) stays on the default pool, so it never holds up these reads.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

SQLITE_THREADS = 2  # a read holds the interpreter lock most of its time
NETWORK_THREADS = 6  # a read mostly waits on the database's answer, the lock released


def threads_for(database_url: str) -> int:
    """How many threads the reads of a database's lane get."""
    return SQLITE_THREADS if database_url.startswith("sqlite") else NETWORK_THREADS


class Lane:
    """At most ``threads`` functions at a time on anyio's worker threads."""

    def __init__(self, threads: int = SQLITE_THREADS):
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop

    async def run(self, fn: Callable[..., T], *args) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


def lower_priority(niceness: int) -> None:
    """Run the calling thread, and the threads it starts, at ``niceness`` (Linux: a thread
    has a priority of its own); elsewhere it keeps the normal one."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass
