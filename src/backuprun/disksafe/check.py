"""Verify a disk safe: its structure always, its data when asked; damage named by file path.

1. Structure: every index object opens; every pack an index names exists with the size
   the index recorded; packs no index names are counted (an interrupted backup leaves
   them; ``prune`` removes them, ``rebuild-index`` indexes them).
2. Data (``read_fraction`` > 0): all packs, or a random share of them, are read whole;
   every indexed blob in them must open (AEAD or checksum), decompress to its recorded
   length and hash to its id; the pack's trailer must open and list the same blobs.
3. Recovery points: every point opens, every tree of it is read and parsed, and every
   file's chunks must be indexed and not found damaged above. Each damaged file is
   reported as ``(point id, path, reason)``; a damaged directory hides what is below it.

Subtrees found clean are not walked again for the next point (points share most of their
trees), so memory grows with the number of distinct directories, never with files.
The safe is only read; callers hold a shared lock.
"""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import PACKS_PREFIX
from backuprun.disksafe.index import Index, PackInfo
from backuprun.disksafe.pack import BlobEntry, trailer_of, verify_blob
from backuprun.disksafe.recoverypoint import RecoveryPoint
from backuprun.disksafe.reindex import Progress, no_progress, read_index_objects
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import entries_of
from backuprun.storage import NotFound, StorageError


@dataclass
class Damage:
    point: str
    path: bytes  # relative to the point's source; b"" is the source directory itself
    reason: str

    def __str__(self) -> str:
        return f"{self.point[:12]} /{os.fsdecode(self.path)}: {self.reason}"


@dataclass
class CheckReport:
    points: int = 0
    packs: int = 0
    blobs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    trees: int = 0
    unindexed_packs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # damaged objects of the safe itself
    damaged: list[Damage] = field(default_factory=list)  # files and directories it touches

    @property
    def clean(self) -> bool:
        return not self.errors and not self.damaged


class Checker:
    """One verification run; see the module docstring."""

    def __init__(self, repo: Repository, read_fraction: float = 0.0, workers: int = 2,
                 progress: Progress | None = None) -> None:
        if not 0.0 <= read_fraction <= 1.0:
            raise ValueError("read_fraction must be between 0 and 1")
        self.repo = repo
        self.read_fraction = read_fraction
        self.workers = workers
        self.report = CheckReport()
        self._bad: dict[bytes, str] = {}  # blob id -> why it cannot be read
        self._clean_trees: set[bytes] = set()
        self._missing_packs: set[str] = set()
        self._mutex = threading.Lock()
        self._progress = progress or no_progress

    def run(self) -> CheckReport:
        by_pack = self._check_index()
        if self.read_fraction > 0:
            self._read_data(by_pack)
        del by_pack
        self._check_points()
        return self.report

    # -- 1. structure --------------------------------------------------------------------
    def _check_index(self) -> dict[str, tuple[PackInfo, list[BlobEntry]]]:
        repo, report = self.repo, self.report
        indexed = read_index_objects(repo, self._progress)
        report.errors += [f"index object {name}: {why}" for name, why in indexed.damaged.items()]
        index = Index()  # what readers use: the union of the index objects that open
        for info, entries in indexed.packs.values():
            index.add_pack(info, entries)
        index.index_names.update(indexed.index_names)
        repo.index = index
        stored = set(repo.storage.list(PACKS_PREFIX))
        report.unindexed_packs = sorted(stored - indexed.packs.keys())
        by_pack: dict[str, tuple[PackInfo, list[BlobEntry]]] = {}
        for pack, entry in repo.index.blobs():  # the locations readers will use
            by_pack.setdefault(pack.name, (pack, []))[1].append(entry)
        report.packs = len(by_pack)
        report.blobs = len(repo.index)
        for i, (name, (pack, entries)) in enumerate(sorted(by_pack.items()), 1):
            self._progress("checking packs", i, len(by_pack))
            try:
                if name not in stored:
                    raise NotFound(name)
                size = repo.storage.size(name)
            except NotFound:
                self._missing_packs.add(name)
                self._error(f"pack {name} is missing", entries)
                continue
            if size != pack.size:
                cut = [e for e in entries if e.offset + e.length > size]
                self._error(f"pack {name} is {size} bytes, the index says {pack.size} "
                            f"(truncated?)", cut)
        return by_pack

    def _error(self, message: str, entries: list[BlobEntry]) -> None:
        self.report.errors.append(message)
        for e in entries:
            self._bad.setdefault(e.id, message)

    # -- 2. data ---------------------------------------------------------------------------
    def _read_data(self, by_pack: dict[str, tuple[PackInfo, list[BlobEntry]]]) -> None:
        names = sorted(by_pack.keys() - self._missing_packs)
        if self.read_fraction < 1.0:
            count = max(1, round(len(names) * self.read_fraction)) if names else 0
            names = sorted(random.sample(names, count))
        done = [0]

        def one(name: str) -> None:
            self._read_pack(*by_pack[name])
            with self._mutex:
                done[0] += 1
                self._progress("reading packs", done[0], len(names))

        with ThreadPoolExecutor(self.workers, thread_name_prefix="disksafe-verify") as pool:
            for _ in pool.map(one, names):
                pass

    def _read_pack(self, pack: PackInfo, entries: list[BlobEntry]) -> None:
        repo = self.repo
        try:
            data = repo.storage.load(pack.name)
        except (NotFound, StorageError) as exc:
            self._record(f"pack {pack.name} cannot be read: {exc}", entries)
            return
        view = memoryview(data)
        bad: list[tuple[str, BlobEntry]] = []
        for e in entries:
            what = f"pack {pack.name}: blob {e.id.hex()[:16]}"
            try:
                if e.offset + e.length > len(data):
                    raise DamagedData(f"{what}: beyond the end of the pack")
                verify_blob(repo.keys, pack.salt, e, view[e.offset:e.offset + e.length], what)
            except DamagedData as exc:
                bad.append((str(exc), e))
        trailer_problem = self._check_trailer(pack, data, entries)
        with self._mutex:
            self.report.packs_read += 1
            self.report.bytes_read += len(data)
            for message, e in bad:
                self.report.errors.append(message)
                self._bad.setdefault(e.id, message)
            if trailer_problem:
                self.report.errors.append(trailer_problem)

    def _check_trailer(self, pack: PackInfo, data: bytes,
                       entries: list[BlobEntry]) -> str | None:
        """Whether the pack's own list of blobs (what a rebuild reads) agrees with the index."""
        try:
            _salt, _size, listed = trailer_of(data, pack.name, self.repo.keys)
        except DamagedData as exc:
            return f"pack {pack.name}: trailer unreadable ({exc}); its index entries still work"
        ids = {e.id for e in listed}
        if any(e.id not in ids for e in entries):
            return f"pack {pack.name}: trailer does not list every indexed blob"
        return None

    def _record(self, message: str, entries: list[BlobEntry]) -> None:
        with self._mutex:
            self._error(message, entries)

    # -- 3. recovery points ---------------------------------------------------------------
    def _check_points(self) -> None:
        repo, report = self.repo, self.report
        names = repo.point_names()
        for i, name in enumerate(names, 1):
            self._progress("checking recovery points", i, len(names))
            try:
                point = repo.load_point(name)
            except DamagedData as exc:
                report.errors.append(f"recovery point {name}: {exc}")
                continue
            report.points += 1
            self._check_tree(point, point.tree, b"")

    def _check_tree(self, point: RecoveryPoint, tree_id: bytes, rel: bytes) -> bool:
        """Check one directory and what is below it; True when all of it is clean."""
        if tree_id in self._clean_trees:
            return True
        reason = self._bad.get(tree_id)
        tree = None
        if reason is None:
            try:
                tree = self.repo.load_tree(tree_id)
                entries = entries_of(tree)
            except (DamagedData, KeyError, TypeError) as exc:
                reason = str(exc)
        if tree is None or reason is not None:
            self.report.damaged.append(Damage(point.id, rel, f"directory unreadable: {reason}"))
            return False
        self.report.trees += 1
        clean = True
        for e in entries:
            path = rel + b"/" + e["n"] if rel else e["n"]
            kind = e.get("t")
            if kind == "d" and e.get("st"):
                clean = self._check_tree(point, e["st"], path) and clean
            elif kind == "f":
                why = self._chunk_problem(e.get("c", ()))
                if why is not None:
                    self.report.damaged.append(Damage(point.id, path, why))
                    clean = False
        if clean:
            self._clean_trees.add(tree_id)
        return clean

    def _chunk_problem(self, ids) -> str | None:
        index, bad = self.repo.index, self._bad
        for cid in ids:
            why = bad.get(cid)
            if why is not None:
                return why
            if cid not in index:
                return f"chunk {cid.hex()[:16]} is in no index"
        return None


def verify(repo: Repository, read_fraction: float = 0.0, progress=None) -> CheckReport:
    """Verify the safe under a shared lock (see :class:`Checker`)."""
    with repo.lock(False, "verify"):
        return Checker(repo, read_fraction, progress=progress).run()
