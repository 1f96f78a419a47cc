"""Retries for any backend: a wrapper, so no backend carries retry logic of its own.

Only ``TransientError`` is retried (network, throttling, a server's 5xx), with exponential
backoff and jitter. Two answers after a failed try are read with care, because the failed
try may have landed:
- ``save`` without overwrite that meets ``AlreadyExists`` loads the blob back; if it holds
  exactly our bytes, the earlier try stored it and the save succeeded. Lock files must
  therefore hold something unique to the holder (host, pid, a random token).
- ``remove`` that meets ``NotFound`` counts as done.
``list`` restarts after a failure and skips the names it already yielded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from backuprun.storage.base import AlreadyExists, NotFound, Storage, TransientError

T = TypeVar("T")


class RetryingStorage:
    """``inner`` with transient failures retried up to ``attempts`` times in all."""

    def __init__(self, inner: Storage, *, attempts: int = 6, base_delay: float = 0.2,
                 max_delay: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.url = inner.url
        self.attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def _call(self, fn: Callable[[], T], *, retried: Callable[[Exception], T] | None = None
              ) -> T:
        """Call ``fn``; after a transient failure, hand later errors to ``retried``."""
        for attempt in range(self.attempts):
            try:
                return fn()
            except TransientError:
                if attempt + 1 == self.attempts:
                    raise
                self._backoff(attempt)
            except (AlreadyExists, NotFound) as e:
                if attempt == 0 or retried is None:
                    raise
                return retried(e)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> None:
        delay = min(self._max_delay, self._base_delay * 2**attempt)
        self._sleep(delay * random.uniform(0.5, 1.0))

    def save(self, name: str, data: bytes | memoryview, *, overwrite: bool = False) -> None:
        def landed_earlier(error: Exception) -> None:
            if isinstance(error, AlreadyExists) and self.load(name) == bytes(data):
                return
            raise error

        self._call(lambda: self.inner.save(name, data, overwrite=overwrite),
                   retried=landed_earlier)

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self._call(lambda: self.inner.load(name, offset, length))

    def size(self, name: str) -> int:
        return self._call(lambda: self.inner.size(name))

    def exists(self, name: str) -> bool:
        return self._call(lambda: self.inner.exists(name))

    def remove(self, name: str) -> None:
        def removed_earlier(error: Exception) -> None:
            if not isinstance(error, NotFound):
                raise error

        self._call(lambda: self.inner.remove(name), retried=removed_earlier)

    def prefetch(self, name: str, offset: int, length: int) -> None:
        self.inner.prefetch(name, offset, length)  # a hint: it never raises

    def sync(self) -> None:
        self._call(self.inner.sync)

    def list(self, prefix: str = "") -> Iterator[str]:
        seen: set[str] = set()
        for attempt in range(self.attempts):
            try:
                for name in self.inner.list(prefix):
                    if name not in seen:
                        seen.add(name)
                        yield name
                return
            except TransientError:
                if attempt + 1 == self.attempts:
                    raise
                self._backoff(attempt)
