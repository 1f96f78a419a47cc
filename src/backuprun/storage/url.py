"""Open a storage backend from a location string: a local path or ``s3://bucket/prefix``."""

from __future__ import annotations

from backuprun.storage.base import Storage


def open_storage(location: str) -> Storage:
    """Return the backend for ``location``.

    ``s3://bucket[/prefix]`` opens S3-compatible object storage (endpoint and credentials
    from the environment, see :mod:`backuprun.storage.s3`), its network hiccups retried
    (:mod:`backuprun.storage.retry`); ``memory://name`` is an in-process store for tests
    (:mod:`backuprun.storage.memory`); anything else is a local folder.
    """
    if location.startswith("s3://"):
        from backuprun.storage.retry import RetryingStorage
        from backuprun.storage.s3 import S3Storage

        return RetryingStorage(S3Storage.from_url(location))
    if location.startswith("memory://"):
        from backuprun.storage.memory import MemoryStorage

        return MemoryStorage.from_url(location)
    from backuprun.storage.local import LocalStorage

    return LocalStorage(location)
