"""The restore's division of work: small files on the walking thread, bigger ones (whole or
in ranges) on the helper and, after the walk, on both; every way round, the same tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backuprun.disksafe import restorer
from backuprun.disksafe.archiver import backup
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from tests.disksafe.treeutil import describe, write


def _tree(source: bytes) -> None:
    for d in (b"a", b"a/deep", b"b", b"z"):
        os.makedirs(os.path.join(source, d))
    for i in range(150):
        write(os.path.join(source, b"a/deep/s%d" % i), b"small %d\n" % i * (i + 1))
    for i in range(4):  # bigger than SMALL_BLOB: the helper's, whole
        write(os.path.join(source, b"b/m%d" % i), os.urandom(300_000 + i))
    for i, size in enumerate((3_500_000, 2_200_000, 1_300_000)):  # split below
        write(os.path.join(source, b"z/big%d" % i), os.urandom(size))
    os.link(os.path.join(source, b"z/big1"), os.path.join(source, b"a/big1-link"))
    with open(os.path.join(source, b"z/holey"), "wb") as f:
        f.truncate(20 << 20)
        f.seek(9 << 20)
        f.write(os.urandom(200_000))
    os.chmod(os.path.join(source, b"z/big2"), 0o600)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restorer, "SPLIT_SIZE", 1 << 20)
    monkeypatch.setattr(restorer, "SPLIT_PART", 300_000)


@pytest.mark.parametrize("scout_files", [4096, 1, 0])
def test_every_division_of_work_restores_the_same_tree(repo: Repository, source: bytes,
                                                        tmp_path: Path, small_parts,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        scout_files: int) -> None:
    monkeypatch.setattr(restorer, "SCOUT_FILES", scout_files)  # the rest queued by the walk
    _tree(source)
    point, _ = backup(repo, source, None)
    target = os.fsencode(tmp_path / "out")
    stats = restore(repo, point, target)
    assert not stats.damaged and not stats.warnings
    assert describe(target) == describe(source)
    assert stats.files == 150 + 4 + 3 + 1 + 1
    assert os.stat(os.path.join(target, b"z/holey")).st_blocks * 512 < 10 << 20


def test_restore_over_an_earlier_restore_replaces_everything(repo: Repository, source: bytes,
                                                             tmp_path: Path, small_parts) -> None:
    _tree(source)
    point, _ = backup(repo, source, None)
    target = os.fsencode(tmp_path / "out")
    os.makedirs(os.path.join(target, b"z"))
    write(os.path.join(target, b"z/big0"), b"stale")
    os.symlink(b"/nonexistent", os.path.join(target, b"b"))  # a symlink where a folder goes
    restore(repo, point, target)
    assert describe(target) == describe(source)


def test_damaged_range_of_a_big_file_is_reported_and_the_rest_restored(
        local_storage, source: bytes, tmp_path: Path, small_parts) -> None:
    from tests.disksafe.conftest import PASSWORD

    _tree(source)
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, source, None)
    z = next(e for e in repo.load_tree(point.tree)["e"] if e["n"] == b"z")
    big0 = next(e for e in repo.load_tree(z["st"])["e"] if e["n"] == b"big0")
    pack, entry = repo.locate(big0["c"][-1])
    path = local_storage.root / pack.name
    raw = bytearray(path.read_bytes())
    raw[entry.offset + 10] ^= 0x40
    path.write_bytes(bytes(raw))
    target = os.fsencode(tmp_path / "out")
    stats = restore(Repository.open(local_storage, PASSWORD), point, target)
    assert len(stats.damaged) == 1 and "/out/z/big0: " in stats.damaged[0], stats.damaged
    got, want = describe(target), describe(source)
    assert got[b"z/big0"] != want[b"z/big0"]
    del got[b"z/big0"], want[b"z/big0"]
    assert got == want
