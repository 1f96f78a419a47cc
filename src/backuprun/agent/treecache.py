"""The agent's copy of the trees of its last backup of a disk safe.

A re-run compares every folder with the parent point's tree of it. Without a copy here, the
agent would ask the backup server for each of those trees, one round trip per folder, and
the server would read and open each one: most of an unchanged re-run's time and nearly all
of the server's work in it. So the agent keeps the trees of its last backup in
``<data-dir>/tree-cache/<safe>.sqlite`` (zstd-compressed, by id) and asks the server only
for the ones it lacks (the first backup from this data folder, a parent point made
elsewhere, a damaged cache).

Trees are named by their keyed id, so an entry cannot be stale: a tree read here is checked
against its id and, if it does not match, asked for again. Each backup writes a new file
with every tree of the point it makes (those it read of the parent and those it made) and
puts it in place of the old one only when the backup is done; a backup that fails leaves
the old file as it was. The file holds the names and metadata of this machine's own files,
in the agent's data folder (owner only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path

import blake3
import zstandard

from backuprun.disksafe.chunker import ChunkerSpec

log = logging.getLogger("backuprun.agent")
FOLDER = "tree-cache"
LEVEL = 1  # trees are small and compress well even so; writing them must stay cheap


def open_cache(data_dir: Path, spec: ChunkerSpec) -> TreeCache | NoCache:
    """The tree cache of the safe ``spec`` belongs to; a cache that keeps nothing when the
    data folder will not hold one (the backup goes on, asking the server for trees)."""
    try:
        return TreeCache(data_dir, spec)
    except (OSError, sqlite3.Error) as exc:
        log.warning("no tree cache in %s (%s): asking the backup server for trees",
                    data_dir, exc)
        return NoCache()


class NoCache:
    hits = misses = 0

    def get(self, tree_id: bytes) -> None:
        self.misses += 1

    def put(self, tree_id: bytes, data: bytes | memoryview) -> None:
        pass

    def commit(self) -> None:
        pass

    def discard(self) -> None:
        pass


class TreeCache:
    """The trees of the last backup (:meth:`get`), and those of the current one being
    recorded (:meth:`put`) until :meth:`commit` or :meth:`discard`."""

    def __init__(self, data_dir: Path, spec: ChunkerSpec):
        folder = data_dir / FOLDER
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # named by the safe (its id key), not showing the key
        name = blake3.blake3(b"tree-cache", key=spec.id_key).hexdigest()[:32]
        self.path = folder / f"{name}.sqlite"
        self._new_path = folder / f"{name}.new.sqlite"
        self._key = spec.id_key
        self._lock = threading.Lock()
        self._old = self._open_old()
        with contextlib.suppress(FileNotFoundError):
            self._new_path.unlink()  # left by a backup that died
        self._new = sqlite3.connect(self._new_path, check_same_thread=False,
                                    isolation_level=None)
        self._new.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                                "CREATE TABLE trees (id BLOB PRIMARY KEY, data BLOB NOT NULL);"
                                "BEGIN;")
        self._zc = zstandard.ZstdCompressor(level=LEVEL)
        self._zd = zstandard.ZstdDecompressor()
        self.hits = self.misses = 0

    def _open_old(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            db.execute("SELECT 1 FROM trees LIMIT 1").fetchall()
            return db
        except sqlite3.Error as exc:
            log.warning("tree cache %s unreadable (%s): asking the backup server instead",
                        self.path, exc)
            return None

    def get(self, tree_id: bytes) -> bytes | None:
        """The tree ``tree_id`` of the last backup, or None (not here, or damaged)."""
        if self._old is None:
            self.misses += 1
            return None
        with self._lock:
            try:
                row = self._old.execute("SELECT data FROM trees WHERE id = ?",
                                        (tree_id,)).fetchone()
            except sqlite3.Error:
                row = None
            data = None
            if row is not None:
                with contextlib.suppress(zstandard.ZstdError):
                    data = self._zd.decompress(row[0])
        if data is None or blake3.blake3(data, key=self._key).digest() != tree_id:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, tree_id: bytes, data: bytes | memoryview) -> None:
        """Record a tree of the backup under way."""
        with self._lock:
            packed = self._zc.compress(data)
            self._new.execute("INSERT OR IGNORE INTO trees VALUES (?, ?)", (tree_id, packed))

    def commit(self) -> None:
        """The backup is done: its trees replace the last backup's."""
        with self._lock:
            self._new.execute("COMMIT")
            self._close()
            os.replace(self._new_path, self.path)

    def discard(self) -> None:
        """The backup did not finish: keep the last backup's trees."""
        with self._lock:
            self._close()
            with contextlib.suppress(FileNotFoundError):
                self._new_path.unlink()

    def _close(self) -> None:
        self._new.close()
        if self._old is not None:
            self._old.close()
            self._old = None
