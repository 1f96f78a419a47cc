"""Password hashing with Argon2id (argon2-cffi), off the event loop, on a bounded pool.

The cost comes from the settings (``argon2_*``); hashes made with older costs are upgraded at
the next successful login. A failed lookup still spends one verification, so the answer time
does not tell whether an address has an account.

The pool: at most ``argon2_workers`` hashes run at a time (default: half the CPUs, at least
one), on threads of their own at the lowest CPU priority (nice 19, inherited by the lane threads
Argon2 starts), so the event loop's cheap requests come first; at most ``argon2_queue`` more
wait. A request that would hash while the pool and its queue are full is refused at once
with ``server_busy`` (HTTP 503, ``Retry-After``) instead of queueing without bound. A caller
that does work of its own before hashing (login: the throttle check) takes its place first
with :meth:`Passwords.slot`, so a refused request costs nothing else.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from backuprun.config import Settings
from backuprun.lanes import lower_priority
from backuprun.portal.errors import ErrorCode, PortalError

HASHING_NICENESS = 19


class Passwords:
    def __init__(self, settings: Settings):
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash("not a password of anyone")
        workers = settings.argon2_workers or max(1, (os.cpu_count() or 1) // 2)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="argon2",
                                        initializer=lower_priority,
                                        initargs=(HASHING_NICENESS,))
        self._room = workers + settings.argon2_queue
        self._taken = 0
        self._holding = ContextVar(f"argon2_slot_{id(self)}", default=False)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """A place in the pool (running or waiting) for the hashing the caller will do;
        ``server_busy`` at once when there is none. Nested uses share the one place."""
        if self._holding.get():
            yield
            return
        if self._taken >= self._room:
            raise PortalError(ErrorCode.SERVER_BUSY)
        self._taken += 1  # one event loop: no lock needed
        token = self._holding.set(True)
        try:
            yield
        finally:
            self._holding.reset(token)
            self._taken -= 1

    async def _run(self, fn, *args):
        with self.slot():
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; spends the same work when there is no hash."""
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password) and (
                    password_hash is not None
                )
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
