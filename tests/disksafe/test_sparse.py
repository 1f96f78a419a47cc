"""Sparse files come back sparse: their holes are not written, whatever the chunking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.holes import zero_runs
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore

MB = 1024 * 1024


def _sparse_file(path: Path, size: int, islands: list[tuple[int, int]]) -> None:
    """``size`` bytes of holes with random data at each ``(offset, length)``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
        for offset, length in islands:
            os.pwrite(fd, os.urandom(length), offset)
    finally:
        os.close(fd)


# a small file (one chunk), a middling one (read whole), a big one (restored in ranges);
# the islands sit at odd offsets so chunks span data and holes
FILES = {
    "small": (200_000, [(70_001, 5_000)]),
    "middling": (20 * MB, [(i * MB + 123_457, MB) for i in range(0, 20, 5)]),
    "big": (64 * MB, [(i * MB + 4_567, 512 * 1024) for i in range(0, 64, 8)]),
}


@pytest.mark.parametrize("name", FILES)
def test_holes_come_back_as_holes(repo: Repository, source: bytes, tmp_path: Path,
                                  name: str) -> None:
    size, islands = FILES[name]
    original = Path(os.fsdecode(source)) / name
    _sparse_file(original, size, islands)
    before = os.stat(original).st_blocks * 512
    if before >= size:
        pytest.skip("this file system does not keep holes")
    point, _ = backup(repo, source, None)
    target = tmp_path / "out"
    restore(repo, point, os.fsencode(target))
    restored = target / name
    assert restored.read_bytes() == original.read_bytes()
    after = os.stat(restored).st_blocks * 512
    # the same blocks allocated, give or take a block where a chunk boundary splits one
    assert after <= before + 64 * 1024, (before, after)


def test_zero_runs() -> None:
    data = b"a" + bytes(5000) + b"b" + bytes(100) + b"c" + bytes(4096)
    assert list(zero_runs(data)) == [(1, 5001), (5103, 9199)]
    assert list(zero_runs(memoryview(data))) == [(1, 5001), (5103, 9199)]
    assert list(zero_runs(b"x" * 10_000)) == []
