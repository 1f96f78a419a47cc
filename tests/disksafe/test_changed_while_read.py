"""Files that change or vanish while a backup reads them: a warning each, never a corrupt
recovery point. A changed file is kept as read and read again by the next backup; a vanished
one is left out."""

from __future__ import annotations

import os

from backuprun.disksafe import archiver
from backuprun.disksafe.archiver import backup
from backuprun.disksafe.tree import entries_of


def test_a_file_that_changes_while_read_is_kept_as_read_with_a_warning(repo, tmp_path,
                                                                       monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "busy.log").write_bytes(b"first")
    (src / "still").write_bytes(b"same")
    real_fstat = os.fstat

    def fstat_after_a_write(fd):  # what the reader sees after its read: a newer mtime
        st = real_fstat(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith("busy.log"):
            os.utime(src / "busy.log", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            return real_fstat(fd)
        return st
    monkeypatch.setattr(archiver.os, "fstat", fstat_after_a_write)
    point, stats = backup(repo, os.fsencode(src), None)
    assert len(stats.errors) == 1 and "busy.log changed while it was read" in stats.errors[0]
    monkeypatch.undo()
    _, again = backup(repo, os.fsencode(src), point)
    assert again.files_read == 1  # the changed file, read again; the other one not


def test_a_file_that_vanishes_before_it_is_read_is_left_out_with_a_warning(repo, tmp_path,
                                                                           monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "gone").write_bytes(b"deleted by the time the reader comes")
    (src / "kept").write_bytes(b"still here")
    real_open = archiver._open_noatime

    def open_after_a_delete(path, flags):
        if path.endswith(b"/gone"):
            os.remove(path)
        return real_open(path, flags)
    monkeypatch.setattr(archiver, "_open_noatime", open_after_a_delete)
    point, stats = backup(repo, os.fsencode(src), None)
    assert len(stats.errors) == 1 and "gone" in stats.errors[0]
    names = [e["n"] for e in entries_of(repo.load_tree(point.tree))]
    assert names == [b"kept"]
