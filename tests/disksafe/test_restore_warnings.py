"""Owners and extended attributes that cannot be set are warnings of the restore, not
silence and not failure: the bytes, modes and times are still restored."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from backuprun.disksafe import restoremeta
from backuprun.disksafe.archiver import backup
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.restorer import restore
from tests.disksafe.treeutil import describe, write


def _source(source: bytes) -> None:
    os.makedirs(os.path.join(source, b"d"))
    write(os.path.join(source, b"d/small"), b"small file\n" * 10)
    write(os.path.join(source, b"d/medium"), os.urandom(700_000))  # the helper writes it
    write(os.path.join(source, b"top"), b"x")
    os.symlink(b"top", os.path.join(source, b"link"))
    for name in (b"d/small", b"d/medium", b"top", b"d"):
        os.setxattr(os.path.join(source, name), b"user.tag", b"v")


def _without(desc: dict, *keys: str) -> dict:
    return {p: {k: v for k, v in d.items() if k not in keys} for p, d in desc.items()}


def test_xattrs_that_cannot_be_set_are_warnings(repo: Repository, source: bytes, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _source(source)
    point, _ = backup(repo, source, None)

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

    monkeypatch.setattr(os, "setxattr", refuse)
    target = os.fsencode(tmp_path / "out")
    stats = restore(repo, point, target)
    assert not stats.damaged
    xattr_warnings = [w for w in stats.warnings if "user.tag" in w]
    assert len(xattr_warnings) == 4, stats.warnings
    for name in ("d/small", "d/medium", "top"):
        assert any(w.endswith(f"/out/{name}: {os.strerror(errno.ENOTSUP)}")
                   for w in xattr_warnings), (name, stats.warnings)
    assert _without(describe(target), "xattrs") == _without(describe(source), "xattrs")


def test_owners_that_cannot_be_set_are_warnings(repo: Repository, source: bytes, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _source(source)
    point, _ = backup(repo, source, None)
    monkeypatch.setattr(restoremeta, "_IS_ROOT", True)  # as if root restoring others' files
    monkeypatch.setattr(restoremeta, "_OWN_IDS", (-2, -2))

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "fchown", refuse)
    monkeypatch.setattr(os, "chown", refuse)
    target = os.fsencode(tmp_path / "out")
    stats = restore(repo, point, target)
    assert not stats.damaged
    owner_warnings = [w for w in stats.warnings if w.startswith("cannot set owner")]
    # d/small, d/medium, top, link, d, and the restore's root folder
    assert len(owner_warnings) == 6, stats.warnings
    assert any("/out/d/medium:" in w for w in owner_warnings)
    assert describe(target) == describe(source)  # modes and times set all the same


def test_many_warnings_of_a_kind_are_counted(repo: Repository, source: bytes, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _source(source)
    point, _ = backup(repo, source, None)
    monkeypatch.setattr(restoremeta, "MAX_DETAILED_WARNINGS", 1)

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

    monkeypatch.setattr(os, "setxattr", refuse)
    stats = restore(repo, point, os.fsencode(tmp_path / "out"))
    assert len(stats.warnings) == 2, stats.warnings
    assert stats.warnings[-1] == "3 more entries: cannot set extended attributes"
