"""Password hashing with Argon2id (argon2-cffi), off the event loop.

The cost comes from the settings (``argon2_*``); hashes made with older costs are upgraded at
the next successful login. A failed lookup still spends one verification, so the answer time
does not tell whether an address has an account. At most one hash per CPU runs at a time,
so a burst of logins queues instead of taking ``argon2_memory_kib`` each all at once.
"""

from __future__ import annotations

import os

import anyio
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from backuprun.config import Settings


class Passwords:
    def __init__(self, settings: Settings):
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash("not a password of anyone")
        self._limiter = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))

    async def _run(self, fn, *args):
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

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
