"""A file that changes while the archiver reads it is kept as read, with a warning, and
read again by the next backup."""

from __future__ import annotations

import os

from backuprun.disksafe import archiver
from backuprun.disksafe.archiver import backup


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
