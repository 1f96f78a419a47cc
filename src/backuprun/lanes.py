"""Threads for short synchronous work done for the event loop: the database reads that
nearly every API call makes (its session, its service, the service's status).

Rule: such work runs on a :class:`Lane` of a few threads, not on anyio's default pool of
40. Python threads take turns on one interpreter lock; with dozens of them runnable at once
the hand-offs cost more than the reads (measured with bench/api_poll.py, 100 clients
polling ``getBackupStatus`` on SQLite: 250 calls/s through the default pool, 570 through 2
threads, 620 through 1). Two threads let one read wait on the network (PostgreSQL) while
another runs. Slow work (a download, opening a big disk safe) stays on the default pool, so
it never holds up these reads.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

THREADS = 2


class Lane:
    def __init__(self, threads: int = THREADS):
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop

    async def run(self, fn: Callable[..., T], *args) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
