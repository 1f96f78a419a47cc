"""The storage suite also runs on RetryingStorage (over memory): the wrapper keeps the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from storagekit import BACKENDS, StorageFactory, make_factory


@pytest.fixture(params=[*BACKENDS, "retrying"])
def storage_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StorageFactory:
    return make_factory(request.param, request, tmp_path)
