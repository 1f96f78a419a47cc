"""``ls`` lines for the entries of a recovery point, streamed."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator

from backuprun.disksafe.errors import PathNotFound
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import find, walk

_CHAR = {"f": "-", "d": "d", "l": "l", "c": "c", "b": "b", "p": "p", "s": "s"}


def format_entry(path: bytes, e: dict) -> bytes:
    mode = _CHAR.get(e["t"], "?") + stat.filemode(e["m"])[1:]
    owner = e.get("un") or str(e.get("u"))
    group = e.get("gn") or str(e.get("g"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["mt"] / 1e9))
    line = f"{mode} {owner:>8} {group:>8} {e.get('sz', 0):>12} {when} ".encode() + b"/" + path
    if e["t"] == "l":
        line += b" -> " + e["lt"]
    return line


def entries(repo: Repository, point: RecoveryPoint,
            path: bytes | None) -> Iterator[tuple[bytes, dict]]:
    """``(path, entry)`` for every entry under ``path`` (the whole recovery point when
    None), parents before children."""
    rel = path.strip(b"/") if path else b""
    if not rel:
        yield from walk(repo, point.tree)
        return
    entry = find(repo, point.tree, rel)
    if entry is None:
        raise PathNotFound(f"no {path.decode(errors='replace')} in recovery point {point.id}")
    yield rel, entry
    if entry["t"] == "d" and entry.get("st"):
        yield from walk(repo, entry["st"], rel)


def list_entries(repo: Repository, point: RecoveryPoint, path: bytes | None) -> Iterator[bytes]:
    """``ls`` lines for every entry under ``path`` (the whole recovery point when None)."""
    for p, e in entries(repo, point, path):
        yield format_entry(p, e)
