"""Setting file metadata from tree entries (restore side; ``metadata`` reads it)."""

from __future__ import annotations

import os

MAX_DETAILED_WARNINGS = 20  # per kind; the rest are counted in one line
_IS_ROOT = os.geteuid() == 0
_OWN_IDS = (os.geteuid(), os.getegid())


def owner_changes(e: dict) -> bool:
    """Whether restoring entry ``e`` needs a chown (only root can, and only if it differs)."""
    return _IS_ROOT and (e.get("u", -1), e.get("g", -1)) != _OWN_IDS


class Warnings:
    """Warnings of one restore: the first few of each kind in full, the rest counted."""

    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.counts: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= MAX_DETAILED_WARNINGS:
            self.out.append(message)

    def finish(self) -> None:
        for kind, n in self.counts.items():
            if n > MAX_DETAILED_WARNINGS:
                self.out.append(f"{n - MAX_DETAILED_WARNINGS} more entries: cannot set {kind}")


def apply_metadata(path: bytes, e: dict, fd: int | None = None,
                   created_mode: int | None = None, warn=None) -> None:
    """Set owner, xattrs, mode and times of ``path`` (or open ``fd``) from entry ``e``.

    ``created_mode``: the mode the file was just created with (umask 0), so an equal
    mode needs no chmod. ``warn(kind, message)`` hears of an owner or extended attribute
    that could not be set (nothing is said when it is ``None``); mode and times raise."""
    link = e["t"] == "l"
    changes_owner = owner_changes(e)
    if changes_owner:
        uid, gid = e.get("u", -1), e.get("g", -1)
        try:
            if fd is not None:
                os.fchown(fd, uid, gid)
            else:
                os.chown(path, uid, gid, follow_symlinks=False)
        except OSError as exc:
            if warn is not None:
                warn("owner", f"cannot set owner {uid}:{gid} of {os.fsdecode(path)}: "
                              f"{exc.strerror}")
    xattrs = e.get("x")
    if xattrs:
        for name, value in xattrs.items():
            try:
                if fd is not None:
                    os.setxattr(fd, name, value)
                else:
                    os.setxattr(path, name, value, follow_symlinks=False)
            except OSError as exc:
                if warn is not None:
                    warn("extended attributes",
                         f"cannot set extended attribute {os.fsdecode(name)} of "
                         f"{os.fsdecode(path)}: {exc.strerror}")
    if not link and (changes_owner or created_mode != e["m"]):
        if fd is not None:
            os.fchmod(fd, e["m"])
        else:
            os.chmod(path, e["m"])
    mt = e["mt"]
    if fd is not None:
        os.utime(fd, ns=(e.get("at", mt), mt))
    else:
        os.utime(path, ns=(e.get("at", mt), mt), follow_symlinks=not link)
