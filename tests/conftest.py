"""Fixtures shared by every test package.

- ``s3_server`` (session): a real SeaweedFS S3 server (see ``tests/s3server.py``), started
  on first use. Locally it skips the test if ``weed`` cannot start; in CI (``CI=true``) it
  fails instead, so S3 coverage never silently disappears.
- ``storage_factory``: parametrized over ``local``, ``memory`` and ``s3``; a callable that
  returns a fresh, empty ``Storage`` each call. ``storage_factory.kind`` names the backend.
- ``storage``: one fresh ``Storage`` from ``storage_factory`` (so also parametrized).
- ``s3_location``: a fresh ``s3://`` URL on the test server, with ``.env`` (a full
  environment for subprocesses) and the same variables set in ``os.environ`` for the test.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # pytest's importlib mode does not add it
    sys.path.insert(0, str(Path(__file__).parent))

import s3server  # noqa: E402
from backuprun.storage import Storage  # noqa: E402

BACKENDS = ["local", "memory", pytest.param("s3", marks=pytest.mark.s3)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3server.SeaweedS3]:
    """A running SeaweedFS S3 server with the test bucket created."""
    try:
        server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    except s3server.Unavailable as e:
        if _in_ci():
            pytest.fail(f"CI needs the S3 server: {e}", pytrace=False)
        pytest.skip(f"S3 server unavailable: {e}")
    yield server
    server.stop()


class StorageFactory:
    """Makes fresh, empty storages of one backend kind."""

    def __init__(self, kind: str, make: Callable[[int], Storage]) -> None:
        self.kind = kind
        self._make = make
        self._counter = itertools.count()

    def __call__(self) -> Storage:
        return self._make(next(self._counter))

    def __repr__(self) -> str:
        return f"StorageFactory({self.kind!r})"


@pytest.fixture(params=BACKENDS)
def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    kind = request.param
    if kind == "local":
        from backuprun.storage.local import LocalStorage

        return StorageFactory(kind, lambda n: LocalStorage(tmp_path / f"storage-{n}"))
    if kind == "memory":
        from backuprun.storage.memory import MemoryStorage

        return StorageFactory(kind, lambda n: MemoryStorage())
    from backuprun.storage.s3 import S3Storage

    server = request.getfixturevalue("s3_server")
    run = uuid.uuid4().hex[:12]
    # A small page size makes every listing of more than 100 names cross pages.
    return StorageFactory(kind, lambda n: S3Storage(
        server.bucket, f"t-{run}-{n}", client=server.client, page_size=100))


@pytest.fixture
def storage(storage_factory: StorageFactory) -> Storage:
    return storage_factory()


@dataclass(frozen=True)
class S3Location:
    url: str
    env: dict[str, str]


@pytest.fixture
def s3_location(s3_server: s3server.SeaweedS3,
                monkeypatch: pytest.MonkeyPatch) -> S3Location:
    """A fresh ``s3://bucket/prefix`` on the test server and the environment to open it."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    for var, value in s3_server.env().items():
        monkeypatch.setenv(var, value)
    url = f"s3://{s3_server.bucket}/loc-{uuid.uuid4().hex[:12]}"
    return S3Location(url, dict(os.environ))
