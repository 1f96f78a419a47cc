"""Tree blobs: one per directory, its entries sorted by name (bytes).

A tree blob is msgpack ``{"v": 1, "e": [entry, ...]}``; an entry is a map with short keys:

====  =======================================================================
n     name (bytes, any bytes but ``/`` and NUL: non-UTF-8 names survive)
t     type: ``f`` file, ``d`` dir, ``l`` symlink, ``c``/``b`` char/block device,
      ``p`` fifo, ``s`` socket
m     permission bits (``stat.S_IMODE``)
u g   uid, gid;  ``un`` ``gn`` user and group names when known
at mt ct   atime, mtime, ctime in ns (ctime recorded, not restored)
i dv nl    inode, device, link count (incremental match; hard-link groups)
sz    size in bytes (files)
c     list of chunk ids (files), in order
sp    true when the file was sparse on disk
st    subtree id (dirs)
lt    symlink target (bytes)
rd    device number (devices)
x     extended attributes {name bytes: value bytes}
====  =======================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import msgpack

if TYPE_CHECKING:
    from backuprun.disksafe.repository import Repository


def encode_tree(entries: list[dict]) -> bytes:
    return msgpack.packb({"v": 1, "e": entries}, use_bin_type=True)


def entries_of(tree: dict) -> list[dict]:
    return tree["e"]


def walk(repo: Repository, tree_id: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, dict]]:
    """Yield ``(path, entry)`` depth-first (parents before children), paths relative."""
    for entry in entries_of(repo.load_tree(tree_id)):
        path = prefix + entry["n"] if not prefix else prefix + b"/" + entry["n"]
        yield path, entry
        if entry["t"] == "d" and entry.get("st"):
            yield from walk(repo, entry["st"], path)


def find(repo: Repository, tree_id: bytes, path: bytes) -> dict | None:
    """The entry at relative ``path`` under ``tree_id`` (``None`` if absent)."""
    parts = [p for p in path.split(b"/") if p and p != b"."]
    entry: dict | None = {"t": "d", "st": tree_id, "n": b""}
    for part in parts:
        if entry is None or entry["t"] != "d":
            return None
        entry = next((e for e in entries_of(repo.load_tree(entry["st"])) if e["n"] == part), None)
    return entry
