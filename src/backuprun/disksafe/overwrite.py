"""What a restore would replace in its target folder, found before anything is written.

A restore replaces what is in its way: a file where the recovery point has a file, a
symlink or a directory of another kind. An existing directory where the point has one is
merged into, not replaced. :func:`would_replace` walks the chosen part of the recovery
point against the target and stops descending where the target has nothing, so a new or
empty target costs one ``scandir``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import entries_of, find

SHOWN = 5  # paths named in full; the rest are counted


@dataclass
class Replaced:
    count: int = 0
    first: list[str] = field(default_factory=list)  # relative paths, the first SHOWN

    def add(self, rel: bytes) -> None:
        self.count += 1
        if len(self.first) < SHOWN:
            self.first.append(os.fsdecode(rel))


def _empty_or_missing(target: bytes) -> bool:
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", target)
    with os.scandir(target) as it:
        return next(it, None) is None


def _walk(repo: Repository, tree_id: bytes, rel: bytes, target: bytes, out: Replaced) -> None:
    for e in entries_of(repo.load_tree(tree_id)):
        child = rel + b"/" + e["n"] if rel else e["n"]
        _entry(repo, e, child, target, out)


def _entry(repo: Repository, e: dict, rel: bytes, target: bytes, out: Replaced) -> None:
    try:
        st = os.lstat(target + b"/" + rel)
    except FileNotFoundError:
        return
    if e["t"] == "d" and stat.S_ISDIR(st.st_mode):
        if e.get("st"):
            _walk(repo, e["st"], rel, target, out)
    else:
        out.add(rel)


def would_replace(repo: Repository, point: RecoveryPoint, target: bytes,
                  paths: list[bytes] | None = None) -> Replaced:
    """The existing paths under ``target`` a restore of ``point`` (or of ``paths`` in it)
    would replace; raises ``NotADirectoryError`` when ``target`` is not a folder."""
    out = Replaced()
    if _empty_or_missing(target):
        return out
    target = target.rstrip(b"/") or b"/"
    if not paths:
        _walk(repo, point.tree, b"", target, out)
        return out
    for path in paths:
        rel = path.strip(b"/")
        entry = find(repo, point.tree, rel) if rel else None
        if not rel:
            _walk(repo, point.tree, b"", target, out)
        elif entry is not None:
            _entry(repo, entry, rel, target, out)
    return out
