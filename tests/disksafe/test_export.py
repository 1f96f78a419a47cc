"""Export: chosen paths of a recovery point streamed as tar or zip, read back by the
standard library and compared with the source; bad paths fail before the first byte."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import tarfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from backuprun.disksafe.archiver import backup
from backuprun.disksafe.errors import DamagedData, InvalidPath, PathNotFound
from backuprun.disksafe.export import PIECE, resolve, stream
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import find
from tests.disksafe.treeutil import describe, make_sample_tree, write

MB = 1024 * 1024
NS = 1_000_000_000
BIG = b"dir/sub/huge.bin"  # over 8 MiB, random: many chunks


@pytest.fixture
def point(repo: Repository, source: bytes):
    make_sample_tree(source)
    write(os.path.join(source, BIG), os.urandom(9 * MB + 4321))
    write(os.path.join(source, b"dir/odd"), b"setuid, group x only\n")
    os.chmod(os.path.join(source, b"dir/odd"), 0o4751)
    write(os.path.join(source, b"before-1970"), b"old", mtime_ns=-1_500_000_000)
    point, stats = backup(repo, source, None)
    assert not stats.errors
    return point


def _export(repo: Repository, point, paths: list[str], fmt: str, out: Path) -> Path:
    """Stream the archive into ``out``, checking each piece's size."""
    with open(out, "wb") as f:
        for piece in stream(repo, point, resolve(repo, point, paths), fmt):
            assert 0 < len(piece) <= PIECE
            f.write(piece)
    assert not list(repo.storage.list("locks/"))
    return out


def _subset(desc: dict, top: bytes) -> dict:
    """What ``describe`` says of ``top`` and beneath it, hard-link groups left out (their
    other members may be outside)."""
    return {p: {k: v for k, v in d.items() if k != "links"} for p, d in desc.items()
            if p == top or p.startswith(top + b"/")}


def _assert_same(got: dict, want: dict) -> None:
    """``describe`` results alike, but for xattrs (not exported), the mtimes of symlinks
    (tarfile sets none) and sub-microsecond mtimes (tarfile reads them as floats)."""
    assert set(got) == set(want)
    for path, w in want.items():
        g, w = dict(got[path]), dict(w)
        g_mtime, w_mtime = g.pop("mtime"), w.pop("mtime")
        if w["type"] != stat.S_IFLNK:
            assert abs(g_mtime - w_mtime) < 1000, path
        del g["xattrs"], w["xattrs"]
        assert g == w, path


# -- tar -----------------------------------------------------------------------------------
@pytest.mark.parametrize("paths, top", [(["/"], None), (["//dir/sub/"], b"dir/sub")])
def test_tar_of_a_tree_extracts_to_the_source(repo, point, source, tmp_path, paths, top):
    archive = _export(repo, point, paths, "tar", tmp_path / "out.tar")
    out = os.fsencode(tmp_path / "out")
    with tarfile.open(archive) as tar:
        tar.extractall(os.fsdecode(out), filter="fully_trusted")
    got, want = describe(out), describe(source)
    if top is not None:  # the parents of a chosen path are made by the extraction
        got, want = _subset(got, top), _subset(want, top)
    _assert_same(got, want)


def test_tar_headers_carry_names_owners_exact_times_and_links(repo, point, source, tmp_path):
    archive = _export(repo, point, ["/"], "tar", tmp_path / "out.tar")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["empty"].pax_headers["mtime"] == "1234567890.123456789"
    assert members["before-1970"].pax_headers["mtime"] == "-1.500000000"
    assert members["dir/sub/hard-a"].islnk() and members["dir/sub/hard-a"].linkname == "dir/a.txt"
    assert members["dir/a.txt"].isfile() and members["fifo"].isfifo()
    assert members["dir/odd"].mode == 0o4751 and members["empty-dir"].isdir()
    assert members[os.fsdecode(b"caf\xe9-latin1-\xff\xfe")].size == len(b"not utf-8 name")
    st = os.lstat(os.path.join(source, b"dir/a.txt"))
    a = members["dir/a.txt"]
    assert (a.uid, a.gid) == (st.st_uid, st.st_gid)
    assert a.uname and a.gname  # the names the backup found (the test user's)


def test_tar_of_single_files_holds_only_them(repo, point, source, tmp_path):
    wanted = ["/dir/sub/hard-a", os.fsdecode(b"/caf\xe9-latin1-\xff\xfe")]
    archive = _export(repo, point, wanted, "tar", tmp_path / "out.tar")
    out = os.fsencode(tmp_path / "out")
    with tarfile.open(archive) as tar:
        assert [m.name for m in tar.getmembers()] == [p[1:] for p in wanted]
        assert tar.getmembers()[0].isfile()  # its other link is not in the archive
        tar.extractall(os.fsdecode(out), filter="fully_trusted")
    got, want = describe(out), describe(source)
    for rel in (b"dir/sub/hard-a", b"caf\xe9-latin1-\xff\xfe"):
        g, w = got[rel], want[rel]
        assert (g["sha"], g["mode"]) == (w["sha"], w["mode"]), rel
        assert abs(g["mtime"] - w["mtime"]) < 1000, rel


# -- zip -----------------------------------------------------------------------------------
def _extras(extra: bytes) -> dict[int, bytes]:
    """A zip member's extra fields by tag."""
    out, i = {}, 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        out[tag], i = extra[i + 4:i + 4 + size], i + 4 + size
    return out


def _zip_name(rel: bytes, kind: int) -> str:
    return rel.decode("utf-8", "replace") + ("/" if kind == stat.S_IFDIR else "")


def _check_zip(archive: Path, want: dict, out: Path) -> None:
    """Every file, directory and symlink of ``want`` is in the zip with its type, mode,
    mtime and bytes (symlinks: their target); nothing else is."""
    kept = {rel: w for rel, w in want.items()
            if w["type"] in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK)}
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        infos = {i.filename: i for i in z.infolist()}
        z.extractall(out)  # symlinks become files holding their target
    assert set(infos) == {_zip_name(rel, w["type"]) for rel, w in kept.items()}
    for rel, w in kept.items():
        name = _zip_name(rel, w["type"])
        info = infos[name]
        mode = info.external_attr >> 16
        assert (stat.S_IFMT(mode), stat.S_IMODE(mode)) == (w["type"], w["mode"]), rel
        seconds = w["mtime"] // NS
        assert _extras(info.extra)[0x5455] == struct.pack("<Bl", 1, seconds), rel
        local = max(time.localtime(seconds)[:6], (1980, 1, 1, 0, 0, 0))
        assert info.date_time == local[:5] + (local[5] // 2 * 2,), rel
        data = b"" if w["type"] == stat.S_IFDIR else (out / name).read_bytes()
        if w["type"] == stat.S_IFREG:
            assert hashlib.sha256(data).hexdigest() == w["sha"], rel
        elif w["type"] == stat.S_IFLNK:
            assert data == w["target"], rel


@pytest.mark.parametrize("paths, top", [(["/"], None), (["/dir/./sub"], b"dir/sub")])
def test_zip_of_a_tree_holds_the_source(repo, point, source, tmp_path, paths, top):
    archive = _export(repo, point, paths, "zip", tmp_path / "out.zip")
    want = describe(source)
    _check_zip(archive, want if top is None else _subset(want, top), tmp_path / "out")


def test_zip_of_single_files_holds_only_them(repo, point, source, tmp_path):
    archive = _export(repo, point, ["/link", "/" + BIG.decode()], "zip", tmp_path / "out.zip")
    want = describe(source)
    _check_zip(archive, {rel: want[rel] for rel in (b"link", BIG)}, tmp_path / "out")


def test_zip_uses_zip64_for_a_file_that_needs_it(repo, point, monkeypatch, tmp_path):
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4 * MB)  # as if the 9 MiB file were 9 GiB
    archive = _export(repo, point, ["/" + BIG.decode()], "zip", tmp_path / "out.zip")
    monkeypatch.undo()
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(BIG.decode())
        assert 0x0001 in _extras(info.extra)  # the ZIP64 field
        assert z.testzip() is None


# -- paths and errors ----------------------------------------------------------------------
def test_paths_are_normalised_and_overlaps_left_out(repo, point):
    found = resolve(repo, point, ["//dir///sub/", "/dir/sub/big.bin", "dir/./sub", "/empty"])
    assert [p for p, _ in found] == ["/dir/sub", "/empty"]
    assert found[0][1]["t"] == "d" and found[1][1]["t"] == "f"
    assert [p for p, _ in resolve(repo, point, ["/empty", "/"])] == ["/"]
    odd = os.fsdecode(b"/caf\xe9-latin1-\xff\xfe")
    assert resolve(repo, point, [odd])[0][1]["n"] == b"caf\xe9-latin1-\xff\xfe"


@pytest.mark.parametrize("bad", ["/dir/../etc", "..", "/dir/\0", "/dir/\ud800"])
def test_bad_paths_are_refused_before_anything_is_read(repo, point, bad):
    with pytest.raises(InvalidPath, match="not a path"):
        resolve(repo, point, ["/dir", bad])


def test_a_missing_path_is_named_before_the_first_byte(repo, point):
    with pytest.raises(PathNotFound, match="/dir/nope"):
        resolve(repo, point, ["/dir/a.txt", "/dir/nope"])
    with pytest.raises(PathNotFound, match="/dir/sub/big.bin/x"):
        resolve(repo, point, ["/dir/sub/big.bin/x"])  # beneath a file
    with pytest.raises(InvalidPath, match="no path"):
        resolve(repo, point, [])
    with pytest.raises(ValueError, match="tar or zip"):
        stream(repo, point, resolve(repo, point, ["/"]), "rar")  # not a generator yet
    assert not list(repo.storage.list("locks/"))


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_a_damaged_chunk_mid_stream_raises_and_releases_the_lock(repo, point, local_storage,
                                                                   fmt):
    chunks = find(repo, point.tree, BIG)["c"]
    pack, entry = repo.locate(chunks[-1])
    path = local_storage.root / pack.name
    raw = bytearray(path.read_bytes())
    raw[entry.offset + 100] ^= 0x20
    path.write_bytes(bytes(raw))
    sent = 0
    with pytest.raises(DamagedData, match=f"recovery point {point.id}: /{BIG.decode()}: "):
        for piece in stream(repo, point, resolve(repo, point, ["/" + BIG.decode()]), fmt):
            sent += len(piece)
    assert sent >= PIECE  # bytes had gone out: only aborting the connection tells the client
    assert not list(repo.storage.list("locks/"))


def test_a_stream_closed_early_releases_the_lock(repo, point):
    pieces = stream(repo, point, resolve(repo, point, ["/"]), "zip")
    next(pieces)
    assert list(repo.storage.list("locks/"))
    pieces.close()
    assert not list(repo.storage.list("locks/"))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_memory_stays_at_a_few_chunks_whatever_the_file_size(repo, source, fmt):
    size = 64 * MB
    with open(os.path.join(source, b"big"), "wb") as f:
        for _ in range(size // MB):
            f.write(os.urandom(MB))
    point, _ = backup(repo, source, None)
    resolved = resolve(repo, point, ["/big"])
    sent = 0
    tracemalloc.start()
    try:
        for piece in stream(repo, point, resolved, fmt):
            sent += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a piece of the file (4 MiB, as read, opened and joined) and the pipe; never the file
    assert sent > size and peak < size // 2, peak
