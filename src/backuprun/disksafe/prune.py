"""Prune: reclaim the space of blobs no recovery point needs (garbage collection).

Under the safe's exclusive lock, so no backup runs meanwhile (a backup takes it too):

1. **Find** every pack: those the index objects name, and stray packs in storage that no
   index object names (a killed backup's last packs, or packs whose index object was lost),
   read from their trailers. Damaged index objects are replaced the same way.
2. **Mark** every blob a recovery point needs, walking each point's trees (each distinct
   tree once). A tree that cannot be read, or a needed blob that is in no pack, stops the
   prune before anything is written: what it cannot see, it must not delete.
3. **Sweep**, in an order that leaves a valid safe wherever it is killed:
   a. repack: the needed blobs of packs that are mostly garbage go into new packs (still
      compressed; opened and sealed again, so a damaged blob is found, not copied);
   b. write index objects naming every pack that stays, superseding all earlier ones; sync;
   c. check the lock is still ours and no recovery point appeared, else stop here;
   d. remove the superseded index objects, then the packs no index names any more; sync.

A blob stored in several packs is kept in one (its first location in the index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backuprun.disksafe.errors import DamagedData, DiskSafeError, SafeLocked
from backuprun.disksafe.format import PACKS_PREFIX
from backuprun.disksafe.index import Index, parse_index_body
from backuprun.disksafe.lock import Lock
from backuprun.disksafe.pack import BlobEntry, open_blob
from backuprun.disksafe.reindex import (INDEX_OBJECT_BLOBS, PackEntries, Progress, no_progress,
                                        read_index_objects, read_pack, remove_all,
                                        write_index)
from backuprun.disksafe.repository import Repository
from backuprun.disksafe.tree import entries_of
from backuprun.storage import NotFound

MAX_UNUSED = 0.2  # repack a pack when more than this share of its bytes is garbage


class PruneStopped(DiskSafeError):
    """Prune found something it cannot account for and deleted nothing."""


@dataclass
class PackPlan:
    """One pack prune removes (``rewrite`` False: nothing in it is needed) or rewrites
    (its needed blobs copied into new packs, ``unused`` the share of garbage)."""
    pack: str
    size: int
    unused: float
    rewrite: bool


@dataclass
class PruneStats:
    points: int = 0
    packs: int = 0  # packs found (indexed and stray)
    bytes: int = 0  # their size
    blobs_needed: int = 0
    stray_packs: int = 0  # packs no index object named
    packs_removed: int = 0  # whole packs no point needs
    packs_repacked: int = 0  # mostly-garbage packs whose needed blobs moved
    packs_written: int = 0
    bytes_freed: int = 0  # removed and repacked packs minus the packs written (net)
    bytes_written: int = 0
    leftovers_removed: int = 0  # temporary files of killed writers (local folders)
    notes: list[str] = field(default_factory=list)
    planned: list[PackPlan] = field(default_factory=list)  # what plan() chose, pack by pack


class Pruner:
    """One prune of ``repo``; call :meth:`plan`, then :meth:`execute` under the same lock."""

    def __init__(self, repo: Repository, max_unused: float = MAX_UNUSED,
                 progress: Progress | None = None) -> None:
        if not 0.0 <= max_unused <= 1.0:
            raise ValueError("max_unused must be between 0 and 1")
        self.repo = repo
        self.max_unused = max_unused
        self.stats = PruneStats()
        self._progress = progress or no_progress
        self._packs: dict[str, PackEntries] = {}
        self._old_index: list[str] = []
        self._points: list[str] = []
        self._needed: set[bytes] = set()
        self._remove: list[str] = []  # packs to delete whole
        self._repack: list[str] = []
        self._unreadable: list[str] = []

    # -- 1. find ---------------------------------------------------------------------------
    def _find(self) -> None:
        repo, stats = self.repo, self.stats
        indexed = read_index_objects(repo, self._progress)
        self._old_index = indexed.index_names + sorted(indexed.damaged)
        stats.notes += [f"index object {name} is damaged ({why}); replaced from the packs' "
                        "own lists" for name, why in sorted(indexed.damaged.items())]
        stored = set(repo.storage.list(PACKS_PREFIX))
        for name, (info, entries) in indexed.packs.items():
            if name in stored:
                self._packs[name] = (info, entries)
            else:
                stats.notes.append(f"pack {name} is missing; dropped from the index")
        stray = sorted(stored - indexed.packs.keys())
        for i, name in enumerate(stray, 1):
            self._progress("reading stray packs", i, len(stray))
            try:
                (info, entries), note = read_pack(repo, name)
            except (DamagedData, NotFound) as exc:
                self._unreadable.append(name)
                stats.notes.append(f"pack {name} is unreadable and in no index: {exc}")
                continue
            if note is not None:
                stats.notes.append(f"{note}; {len(entries)} blobs recovered")
            self._packs[name] = (info, entries)
        stats.stray_packs = len(stray)
        stats.packs = len(self._packs) + len(self._unreadable)
        stats.bytes = sum(info.size for info, _ in self._packs.values())
        index = Index()  # every blob the safe holds; a copy in an indexed pack comes first
        for name in sorted(self._packs, key=lambda n: (n not in indexed.packs, n)):
            index.add_pack(*self._packs[name])
        repo.index = index

    # -- 2. mark ---------------------------------------------------------------------------
    def _mark(self) -> None:
        repo, needed = self.repo, self._needed
        self._points = repo.point_names()
        for i, name in enumerate(self._points, 1):
            self._progress("marking recovery points", i, len(self._points))
            try:
                point = repo.load_point(name)
            except DamagedData as exc:
                raise PruneStopped(f"recovery point {name} is damaged ({exc}); prune cannot "
                                   "tell what it needs. Nothing was deleted.") from None
            stack = [point.tree]
            while stack:
                tree_id = stack.pop()
                if tree_id in needed:
                    continue
                needed.add(tree_id)
                try:
                    entries = entries_of(repo.load_tree(tree_id))
                except (DamagedData, KeyError, TypeError) as exc:
                    raise PruneStopped(
                        f"recovery point {point.id}: a directory is unreadable ({exc}); "
                        "nothing was deleted. Run verify, and forget the damaged points "
                        "before pruning.") from None
                for e in entries:
                    if e["t"] == "d" and e.get("st"):
                        stack.append(e["st"])
                    elif e["t"] == "f":
                        needed.update(e.get("c", ()))
        missing = sum(1 for i in needed if i not in repo.index)
        if missing:
            raise PruneStopped(f"{missing} chunks the recovery points need are in no pack; "
                               "nothing was deleted. Run verify, and forget the damaged "
                               "points before pruning.")
        self.stats.points = len(self._points)
        self.stats.blobs_needed = len(needed)

    # -- plan ------------------------------------------------------------------------------
    def _keeps(self, name: str) -> list[BlobEntry]:
        """The blobs of pack ``name`` that stay: needed, and first located there."""
        index, needed = self.repo.index, self._needed
        out = []
        for e in self._packs[name][1]:
            if e.id in needed:
                loc = index.lookup(e.id)
                if loc is not None and loc[0].name == name:
                    out.append(e)
        return out

    def plan(self) -> PruneStats:
        self._find()
        self._mark()
        stats = self.stats
        for i, (name, (info, entries)) in enumerate(sorted(self._packs.items()), 1):
            self._progress("planning packs", i, len(self._packs))
            kept = sum(e.length for e in self._keeps(name))
            unused = 1 - kept / (sum(e.length for e in entries) or 1)
            if not kept:
                self._remove.append(name)
                stats.bytes_freed += info.size
                stats.planned.append(PackPlan(name, info.size, 1.0, False))
            elif unused > self.max_unused:
                self._repack.append(name)
                stats.bytes_freed += info.size - kept  # an estimate until it is done
                stats.planned.append(PackPlan(name, info.size, unused, True))
        self._remove += self._unreadable
        stats.planned += [PackPlan(name, 0, 1.0, False) for name in self._unreadable]
        stats.packs_removed = len(self._remove)
        stats.packs_repacked = len(self._repack)
        return stats

    # -- 3. sweep --------------------------------------------------------------------------
    def execute(self, lock: Lock) -> PruneStats:
        repo, stats = self.repo, self.stats
        if not (self._remove or self._repack or stats.notes or stats.stray_packs
                or len(self._old_index) > 1 + self._rows() // INDEX_OBJECT_BLOBS):
            return stats  # nothing to delete, and the index is already compact
        new_packs, writer_index = self._repack_packs()
        gone = set(self._remove) | set(self._repack)
        staying = [self._packs[n] for n in sorted(self._packs) if n not in gone]
        self._progress("writing the index", 0, 0)
        write_index(repo, staying + new_packs, supersedes=self._old_index + writer_index)
        lock.check()
        if repo.point_names() != self._points:
            raise SafeLocked("recovery points changed while pruning (is another writer "
                             "using this safe?); new index objects were written, nothing "
                             "was deleted")
        self._progress("removing", 0, 0)
        remove_all(repo, self._old_index + writer_index)
        remove_all(repo, sorted(gone))
        stats.packs_written = len(new_packs)
        stats.bytes_written = sum(info.size for info, _ in new_packs)
        stats.bytes_freed = sum(self._packs[n][0].size for n in gone if n in self._packs) \
            - stats.bytes_written
        repo.load_index()
        return stats

    def _rows(self) -> int:
        return sum(len(entries) for _, entries in self._packs.values())

    def _repack_packs(self) -> tuple[list[PackEntries], list[str]]:
        """Copy the needed blobs of the packs to repack into new packs; a pack with a
        damaged needed blob is kept as it is instead (the damage stays visible to verify)."""
        if not self._repack:
            return [], []
        repo = self.repo
        keep_instead = []
        with repo.writer() as writer:
            for i, name in enumerate(self._repack, 1):
                self._progress("repacking", i, len(self._repack))
                info = self._packs[name][0]
                try:
                    data = memoryview(repo.storage.load(name))
                    for e in self._keeps(name):
                        payload = open_blob(repo.keys, info.salt, e,
                                            data[e.offset:e.offset + e.length],
                                            f"{name}: blob {e.id.hex()[:16]}")
                        writer.add_compressed(e.type, e.id, e.flags, payload, e.raw_len)
                except (DamagedData, NotFound) as exc:
                    keep_instead.append(name)
                    self.stats.notes.append(f"pack {name} kept, not repacked: {exc}")
        for name in keep_instead:
            self._repack.remove(name)
        self.stats.packs_repacked = len(self._repack)
        new: list[PackEntries] = []
        for name in writer.index_names:
            new += parse_index_body(repo.load_index_object(name))
        return new, list(writer.index_names)


def prune(repo: Repository, max_unused: float = MAX_UNUSED, dry_run: bool = False,
          progress: Progress | None = None) -> PruneStats:
    """Reclaim space under the exclusive lock; ``dry_run`` only plans (see the module)."""
    with repo.lock(True, "prune") as lock:
        pruner = Pruner(repo, max_unused, progress)
        stats = pruner.plan()
        if dry_run:
            repo.load_index()
            return stats
        pruner.execute(lock)
        leftovers = getattr(repo.storage, "remove_leftovers", None)  # a local folder's
        if leftovers is not None:  # half-written files from killed writers
            stats.leftovers_removed = leftovers()
        return stats

