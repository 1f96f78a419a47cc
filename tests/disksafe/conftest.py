"""Fixtures for the disk-safe tests.

``storage_factory`` (tests/conftest.py) is parametrized over every backend; tests that
only need one backend use ``local_storage``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backuprun.disksafe.repository import Repository
from backuprun.storage.local import LocalStorage

PASSWORD = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2id parameters for tests (the format stores them per key object)."""
    from backuprun.disksafe import keys

    monkeypatch.setattr(keys, "KDF_TIME", 1)
    monkeypatch.setattr(keys, "KDF_MEMORY_KIB", 8 * 1024)


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "safe")


@pytest.fixture
def repo(local_storage: LocalStorage) -> Repository:
    return Repository.init(local_storage, PASSWORD, encrypted=True)


@pytest.fixture
def source(tmp_path: Path) -> bytes:
    path = os.fsencode(tmp_path / "source")
    os.makedirs(path)
    return path
