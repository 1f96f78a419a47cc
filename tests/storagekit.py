"""Fresh, empty storages of each backend kind, for the ``storage_factory`` fixtures."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from backuprun.storage import Storage

# The backends every shared test runs on; S3 tests carry the ``s3`` mark.
BACKENDS = ["local", "memory", pytest.param("s3", marks=pytest.mark.s3)]


class StorageFactory:
    """Makes fresh, empty storages of one backend kind; ``kind`` names it."""

    def __init__(self, kind: str, make: Callable[[int], Storage]) -> None:
        self.kind = kind
        self._make = make
        self._counter = itertools.count()

    def __call__(self) -> Storage:
        return self._make(next(self._counter))

    def __repr__(self) -> str:
        return f"StorageFactory({self.kind!r})"


def make_factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    """The factory for ``kind``: local, memory, s3 or retrying (memory behind the wrapper)."""
    if kind == "local":
        from backuprun.storage.local import LocalStorage

        return StorageFactory(kind, lambda n: LocalStorage(tmp_path / f"storage-{n}"))
    if kind == "memory":
        from backuprun.storage.memory import MemoryStorage

        return StorageFactory(kind, lambda n: MemoryStorage())
    if kind == "retrying":
        from backuprun.storage.memory import MemoryStorage
        from backuprun.storage.retry import RetryingStorage

        return StorageFactory(kind, lambda n: RetryingStorage(MemoryStorage()))
    if kind != "s3":
        raise ValueError(f"no storage kind {kind!r}")
    from backuprun.storage.s3 import S3Storage

    server = request.getfixturevalue("s3_server")
    run = uuid.uuid4().hex[:12]
    # A small page size makes every listing of more than 100 names cross pages.
    return StorageFactory(kind, lambda n: S3Storage(
        server.bucket, f"t-{run}-{n}", client=server.client, page_size=100))
