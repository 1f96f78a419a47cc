"""LocalStorage beyond the shared suite: a writer killed mid-save, leftovers, layout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backuprun.storage import open_storage
from backuprun.storage.local import LocalStorage

BLOB = 24 * 1024 * 1024

# Saves blobs of one repeated byte, alternately new names and one overwritten name, forever.
WRITER = """
import sys
from backuprun.storage.local import LocalStorage
storage = LocalStorage(sys.argv[1])
size = int(sys.argv[2])
i = 0
while True:
    data = bytes([i % 251 + 1]) * size
    storage.save(f"packs/{i:04d}", data)
    storage.save("index/latest", data, overwrite=True)
    print(i, flush=True)
    i += 1
"""


def _is_whole(blob: bytes) -> bool:
    return len(blob) == BLOB and blob.count(blob[:1]) == BLOB


def _partial_temp_file(root: Path) -> bool:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".tmp-"):
                try:
                    if 0 < os.path.getsize(os.path.join(dirpath, name)) < BLOB:
                        return True
                except FileNotFoundError:
                    pass
    return False


@pytest.mark.parametrize("saves_before_kill", [1, 3])
def test_writer_killed_mid_save_leaves_whole_blobs_or_none(tmp_path: Path,
                                                           saves_before_kill: int) -> None:
    root = tmp_path / "safe"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(BLOB)],
                              stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(saves_before_kill):
            assert writer.stdout is not None and writer.stdout.readline()
        deadline = time.monotonic() + 30
        while not _partial_temp_file(root):  # kill while a blob is half written
            assert time.monotonic() < deadline, "never caught the writer mid-save"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    storage = LocalStorage(root)
    names = sorted(storage.list())
    assert "index/latest" in names and len(names) >= saves_before_kill + 1
    assert all(not n.rsplit("/", 1)[-1].startswith(".tmp-") for n in names)
    for name in names:
        assert storage.size(name) == BLOB, name
        assert _is_whole(storage.load(name)), name


def test_temporary_files_are_not_listed_or_seen(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("data/aa/blob", b"x")
    (tmp_path / "data" / "aa" / ".tmp-blob-123456").write_bytes(b"partial")
    (tmp_path / ".tmp-config-abcdef").write_bytes(b"partial")
    assert list(storage.list()) == ["data/aa/blob"]
    assert list(storage.list("data/aa/")) == ["data/aa/blob"]


def test_blobs_are_plain_files_under_the_root(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "safe"))
    assert isinstance(storage, LocalStorage)
    storage.save("data/ab/cd", b"content")
    assert (tmp_path / "safe" / "data" / "ab" / "cd").read_bytes() == b"content"
    assert storage.url == str((tmp_path / "safe").resolve())


def test_a_missing_root_reads_as_empty(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "not-yet")
    assert list(storage.list()) == []
    assert not storage.exists("config")
    storage.save("config", b"c")
    assert os.path.isfile(tmp_path / "not-yet" / "config")


def test_sync_fsyncs_every_folder_a_save_created(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    base = tmp_path.resolve()
    storage = LocalStorage(base / "safe")
    storage.save("data/ab/cd", b"x")
    synced.clear()
    storage.sync()
    expected = {base, base / "safe", base / "safe" / "data", base / "safe" / "data" / "ab"}
    assert {str(p) for p in expected} <= set(synced)
    synced.clear()
    storage.save("data/ab/ef", b"y")  # an existing folder: only it changed
    storage.sync()
    assert [p for p in synced if ".tmp-" not in p] == [str(base / "safe" / "data" / "ab")]


def test_leftover_temporary_files_are_removed_when_old(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "safe")
    storage.save("packs/ab/one", b"x")
    old = tmp_path / "safe" / "packs" / "ab" / ".tmp-two-0123"
    young = tmp_path / "safe" / "packs" / "ab" / ".tmp-three-4567"
    old.write_bytes(b"half")
    young.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert storage.remove_leftovers(older_than=3600) == 1
    assert not old.exists() and young.exists()
    assert list(storage.list()) == ["packs/ab/one"]


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 64 KiB filesystem (tmpfs), where the privileges allow mounting one."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_is_a_storage_error_and_leaves_nothing(tiny_disk: Path) -> None:
    from backuprun.storage import StorageError

    storage = LocalStorage(tiny_disk / "safe")
    storage.save("packs/small", b"s" * 1000)
    with pytest.raises(StorageError, match="cannot save packs/big.*No space left"):
        storage.save("packs/big", b"b" * 1_000_000)
    assert list(storage.list()) == ["packs/small"]
    assert not any(tiny_disk.rglob(".tmp-*"))
    assert storage.load("packs/small") == b"s" * 1000


def test_a_write_error_is_a_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from backuprun.storage import StorageError

    storage = LocalStorage(tmp_path / "safe")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageError, match="No space left"):
        storage.save("packs/a", b"y" * 100)
    monkeypatch.undo()
    assert list(storage.list()) == [] and not any((tmp_path / "safe").rglob(".tmp-*"))
