"""Fixtures shared by every test package.

- ``s3_server`` (session): a real SeaweedFS S3 server (see ``tests/s3server.py``), started
  on first use. It skips the test if ``weed`` cannot start; ``tests/hygiene.py`` says so
  loudly in the summary, and makes the skip a failure in CI (``CI=true``).

The hooks of ``tests/hygiene.py`` (a temp folder of the run's own, left empty; no silent
skips of server tests) are imported here.
- ``storage_factory``: parametrized over ``local``, ``memory`` and ``s3``; a callable that
  returns a fresh, empty ``Storage`` each call. ``storage_factory.kind`` names the backend.
  (``tests/storagekit.py`` builds them; ``tests/storage`` adds ``retrying``.)
- ``storage``: one fresh ``Storage`` from ``storage_factory`` (so also parametrized).
- ``s3_location``: a fresh ``s3://`` URL on the test server, with ``.env`` (a full
  environment for subprocesses) and the same variables set in ``os.environ`` for the test.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # pytest's importlib mode does not add it
    sys.path.insert(0, str(Path(__file__).parent))

import s3server  # noqa: E402
from hygiene import (pytest_collection_modifyitems, pytest_configure,  # noqa: E402,F401
                     pytest_runtest_makereport, pytest_sessionfinish, pytest_terminal_summary)
from backuprun.storage import Storage  # noqa: E402
from storagekit import BACKENDS, StorageFactory, make_factory  # noqa: E402


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3server.SeaweedS3]:
    """A running SeaweedFS S3 server with the test bucket created."""
    try:
        server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    except s3server.Unavailable as e:
        pytest.skip(f"S3 server unavailable: {e}")
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    return make_factory(request.param, request, tmp_path)


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
