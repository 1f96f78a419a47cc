"""Dedup, plaintext never reaching storage, passwords, and flipped bits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.errors import DamagedData, WrongPassword
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from backuprun.storage import Storage
from tests.disksafe.conftest import PASSWORD
from tests.disksafe.treeutil import describe, write

MARKER = b"PLAINTEXT-MARKER-7f3a9c"


def stored_bytes(storage: Storage) -> int:
    return sum(storage.size(n) for n in storage.list("packs/"))


def all_stored(storage: Storage) -> bytes:
    return b"".join(storage.load(n) for n in sorted(storage.list("")))


def test_same_data_twice_does_not_grow(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"a"), os.urandom(2_000_000))
    first, _ = backup(repo, source, None)
    size = stored_bytes(repo.storage)
    # a full (non-incremental) re-read of the same data adds no data blobs
    second, _ = backup(repo, source, None)
    assert second.stats["bytes_read"] == 2_000_000
    assert stored_bytes(repo.storage) == size
    assert second.stats["bytes_added"] == 0


def test_copied_and_moved_file_not_stored_twice(repo: Repository, source: bytes) -> None:
    data = os.urandom(3_000_000)
    write(os.path.join(source, b"orig"), data)
    p1, _ = backup(repo, source, None)
    size = stored_bytes(repo.storage)
    os.makedirs(os.path.join(source, b"elsewhere"))
    os.rename(os.path.join(source, b"orig"), os.path.join(source, b"elsewhere/moved"))
    write(os.path.join(source, b"copy"), data)
    p2, _ = backup(repo, source, p1)
    grown = stored_bytes(repo.storage) - size
    assert grown < 20_000, f"a moved and a copied file added {grown} bytes"
    assert p2.stats["bytes_read"] == 6_000_000


def test_encrypted_storage_holds_no_plaintext(storage_factory, tmp_path: Path) -> None:
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    write(os.path.join(src, MARKER + b".name"), MARKER * 5000)
    write(os.path.join(src, b"small"), MARKER)
    os.setxattr(os.path.join(src, b"small"), b"user.m", MARKER)
    os.symlink(MARKER, os.path.join(src, b"sym"))
    repo = Repository.init(storage_factory(), PASSWORD, encrypted=True)
    backup(repo, src, None)
    blob = all_stored(repo.storage)
    assert MARKER not in blob
    assert MARKER[:12] not in blob
    assert os.fsencode(str(tmp_path)) not in blob  # the source path is sealed too


def test_unencrypted_safe_is_readable_but_authenticated(local_storage, source: bytes) -> None:
    write(os.path.join(source, b"f"), MARKER * 10)
    repo = Repository.init(local_storage, None, encrypted=False)
    backup(repo, source, None)
    assert MARKER in all_stored(local_storage)  # readable: authenticated, not encrypted


def test_wrong_password(local_storage) -> None:
    Repository.init(local_storage, PASSWORD, encrypted=True)
    with pytest.raises(WrongPassword):
        Repository.open(local_storage, b"not it")
    with pytest.raises(WrongPassword):
        Repository.open(local_storage, None)


def test_passwd_rewraps_only_the_key(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"f"), b"data")
    backup(repo, source, None)
    before = {n: repo.storage.load(n) for n in repo.storage.list("") if not n.startswith("keys/")}
    repo.change_password(b"new password")
    after = {n: repo.storage.load(n) for n in repo.storage.list("") if not n.startswith("keys/")}
    assert before == after
    with pytest.raises(WrongPassword):
        Repository.open(repo.storage, PASSWORD)
    assert Repository.open(repo.storage, b"new password").points()


@pytest.mark.parametrize("encrypted", [True, False])
def test_flipped_byte_in_pack_is_reported_and_rest_restores(local_storage, source: bytes,
                                                            tmp_path: Path, encrypted: bool) -> None:
    write(os.path.join(source, b"victim"), os.urandom(600_000))
    write(os.path.join(source, b"bystander"), os.urandom(600_000))
    repo = Repository.init(local_storage, PASSWORD if encrypted else None, encrypted=encrypted)
    point, _ = backup(repo, source, None)
    tree = repo.load_tree(point.tree)
    victim = next(e for e in tree["e"] if e["n"] == b"victim")
    pack, entry = repo.locate(victim["c"][0])
    path = local_storage.root / pack.name
    raw = bytearray(path.read_bytes())
    raw[entry.offset + entry.length // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    fresh = Repository.open(local_storage, PASSWORD)
    with pytest.raises(DamagedData):
        fresh.load_blob(victim["c"][0])
    stats = restore(fresh, point, os.fsencode(tmp_path / "out"))
    assert any("victim" in d for d in stats.damaged)
    got = describe(os.fsencode(tmp_path / "out"))
    assert got[b"bystander"] == describe(source)[b"bystander"]


def test_truncated_pack_is_damage_not_a_crash(local_storage, source: bytes, tmp_path: Path) -> None:
    write(os.path.join(source, b"f"), os.urandom(900_000))
    repo = Repository.init(local_storage, PASSWORD, encrypted=True)
    point, _ = backup(repo, source, None)
    tree = repo.load_tree(point.tree)
    pack, _entry = repo.locate(tree["e"][0]["c"][0])
    path = local_storage.root / pack.name
    path.write_bytes(path.read_bytes()[:1000])
    stats = restore(Repository.open(local_storage, PASSWORD), point, os.fsencode(tmp_path / "o"))
    assert stats.damaged


def test_moved_object_does_not_open(repo: Repository, source: bytes) -> None:
    write(os.path.join(source, b"f"), b"x")
    p1, _ = backup(repo, source, None)
    name = "points/" + p1.id
    repo.storage.save("points/" + "0" * 32, repo.storage.load(name))
    with pytest.raises(DamagedData):
        repo.load_point("points/" + "0" * 32)
