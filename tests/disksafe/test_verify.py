"""verify names damaged files by path; rebuild-index recovers a lost index from the packs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.check import verify
from backuprun.disksafe.reindex import rebuild_index
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from tests.disksafe.conftest import PASSWORD
from tests.disksafe.treeutil import describe, make_sample_tree, write


def _two_files(source: bytes) -> None:
    os.makedirs(os.path.join(source, b"sub"))
    write(os.path.join(source, b"sub/victim"), os.urandom(700_000))
    write(os.path.join(source, b"bystander"), os.urandom(700_000))


def _pack_of(repo: Repository, point, name: bytes):
    tree = repo.load_tree(point.tree)
    for part in name.split(b"/")[:-1]:
        tree = repo.load_tree(next(e for e in tree["e"] if e["n"] == part)["st"])
    entry = next(e for e in tree["e"] if e["n"] == name.split(b"/")[-1])
    return repo.locate(entry["c"][0])


def test_clean_safe_verifies_on_every_backend(storage_factory, tmp_path: Path) -> None:
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    make_sample_tree(src)
    repo = Repository.init(storage_factory(), PASSWORD, encrypted=True)
    p1, _ = backup(repo, src, None)
    write(os.path.join(src, b"new"), os.urandom(50_000))
    backup(repo, src, p1)
    report = verify(repo, read_fraction=1.0)
    assert report.clean, (report.errors, report.damaged)
    assert report.points == 2 and report.packs_read == report.packs > 0
    assert report.bytes_read == sum(repo.storage.size(n) for n in repo.storage.list("packs/"))
    assert verify(repo).clean  # structure only
    assert not list(repo.storage.list("locks/"))


@pytest.mark.parametrize("encrypted", [True, False])
def test_flipped_byte_named_by_path(local_storage, source: bytes, tmp_path: Path,
                                    encrypted: bool) -> None:
    _two_files(source)
    repo = Repository.init(local_storage, PASSWORD if encrypted else None, encrypted=encrypted)
    point, _ = backup(repo, source, None)
    pack, entry = _pack_of(repo, point, b"sub/victim")
    path = local_storage.root / pack.name
    raw = bytearray(path.read_bytes())
    raw[entry.offset + 100] ^= 0x20
    path.write_bytes(bytes(raw))
    assert verify(repo).clean  # the structure is intact: only reading the data finds it
    report = verify(repo, read_fraction=1.0)
    assert [(d.point, d.path) for d in report.damaged] == [(point.id, b"sub/victim")]
    assert any(pack.name in e for e in report.errors)
    stats = restore(repo, point, os.fsencode(tmp_path / "out"))
    assert [d for d in stats.damaged if "victim" in d]
    assert describe(os.fsencode(tmp_path / "out"))[b"bystander"] == describe(source)[b"bystander"]


def test_truncated_pack_found_without_reading_data(local_storage, source: bytes) -> None:
    _two_files(source)
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, source, None, writer_options={"pack_size": 600_000})
    pack, entry = _pack_of(repo, point, b"sub/victim")
    path = local_storage.root / pack.name
    path.write_bytes(path.read_bytes()[:entry.offset + 10])
    report = verify(repo)
    assert any("truncated" in e for e in report.errors)
    assert [d.path for d in report.damaged] == [b"sub/victim"]


def test_damaged_tree_names_the_directory(local_storage, source: bytes) -> None:
    _two_files(source)
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, source, None)
    sub = next(e for e in repo.load_tree(point.tree)["e"] if e["n"] == b"sub")
    pack, entry = repo.locate(sub["st"])
    path = local_storage.root / pack.name
    raw = bytearray(path.read_bytes())
    raw[entry.offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    damaged = verify(repo).damaged  # trees are always read
    assert [(d.path, "directory" in d.reason) for d in damaged] == [(b"sub", True)]


def test_missing_index_is_rebuilt_from_packs(storage_factory, tmp_path: Path) -> None:
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    make_sample_tree(src)
    storage = storage_factory()
    repo = Repository.init(storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, src, None)
    for name in list(storage.list("index/")):
        storage.remove(name)
    repo = Repository.open(storage, PASSWORD)
    report = verify(repo)
    assert report.unindexed_packs and report.damaged  # every file's chunks are unindexed
    stats = rebuild_index(repo)
    assert stats.packs == len(report.unindexed_packs) and not stats.walked
    assert verify(Repository.open(storage, PASSWORD), read_fraction=1.0).clean
    out = os.fsencode(tmp_path / "out")
    restore(Repository.open(storage, PASSWORD), point, out)
    assert describe(out) == describe(src)


def test_rebuild_walks_a_pack_whose_trailer_is_gone(local_storage, source: bytes) -> None:
    for i in range(4):  # below the chunker's minimum: one chunk each
        write(os.path.join(source, b"f%d" % i), os.urandom(200_000))
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, source, None)
    data_pack = max(repo.index.packs(), key=lambda p: p.size)
    path = local_storage.root / data_pack.name
    path.write_bytes(path.read_bytes()[:-20])  # footer and part of the trailer lost
    stats = rebuild_index(repo)
    assert len(stats.walked) == 1 and "4 blobs recovered" in stats.walked[0]
    report = verify(Repository.open(local_storage, PASSWORD), read_fraction=1.0)
    assert not report.damaged
    assert any("trailer" in e for e in report.errors)  # still reported, not hidden
