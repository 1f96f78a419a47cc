"""Index objects from packs: what a pack holds, complete indexes, and rebuilding the index.

Every pack carries its own index rows in its trailer, so the index is a cache that can be
rebuilt from the packs alone. :func:`rebuild_index` does that for the whole safe (a lost or
damaged index object, packs a killed backup never indexed); ``prune`` uses the same pieces
to index stray packs and to write the index that replaces all earlier ones.

Replacing indexes is crash-safe: the new index objects (naming every old one in
``supersedes``) are written and synced before any old one is removed, and two index objects
naming the same blob are harmless (the first location wins; both are valid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from backuprun.disksafe.errors import DamagedData
from backuprun.disksafe.format import HEADER_SIZE, PACKS_PREFIX, T_INDEX, T_PACK, parse_header
from backuprun.disksafe.index import PackInfo, index_body, new_index_name, parse_index_body
from backuprun.disksafe.objects import seal_object
from backuprun.disksafe.pack import PREFIX_SIZE, BlobEntry, read_trailer, scan_frames, verify_blob
from backuprun.disksafe.repository import Repository
from backuprun.storage import NotFound

INDEX_OBJECT_BLOBS = 20_000  # rows per index object written here (as many as the writer's)

PackEntries = tuple[PackInfo, list[BlobEntry]]
Progress = Callable[[str, int, int], None]  # (step, done, total); total 0: unknown


def no_progress(_step: str, _done: int = 0, _total: int = 0) -> None:
    pass


def read_pack(repo: Repository, name: str) -> tuple[PackEntries, str | None]:
    """What pack ``name`` holds: from its trailer or, when the trailer is damaged (a
    truncated pack), by walking its frames and keeping those that open and match their id.

    Returns ``((info, entries), note)``; ``note`` says why the frame walk was needed.
    Raises ``DamagedData`` when not even the pack's header is readable.
    """
    try:
        salt, size, entries = read_trailer(repo.storage, name, repo.keys)
        return (PackInfo(name, size, salt), entries), None
    except DamagedData as exc:
        note = str(exc)
    data = repo.storage.load(name)
    parse_header(data, T_PACK, name)
    salt = bytes(data[HEADER_SIZE:PREFIX_SIZE])
    view = memoryview(data)
    entries = []
    for btype, flags, blob_id, offset, length in scan_frames(data):
        probe = BlobEntry(blob_id, btype, flags, offset, length, 0)
        try:
            raw = verify_blob(repo.keys, salt, probe, view[offset:offset + length],
                              length_known=False)
        except DamagedData:
            continue  # this blob is lost; the pack's other blobs are kept
        entries.append(BlobEntry(blob_id, btype, flags, offset, length, len(raw)))
    return (PackInfo(name, len(data), salt), entries), note


def write_index(repo: Repository, packs: Iterable[PackEntries],
                supersedes: Iterable[str] = ()) -> list[str]:
    """Write index objects naming ``packs`` (about ``INDEX_OBJECT_BLOBS`` rows each), each
    listing ``supersedes``; sync. Returns the new names."""
    supersedes = sorted(supersedes)
    names: list[str] = []
    batch: list[PackEntries] = []
    rows = 0

    def emit() -> None:
        name = new_index_name()
        body = index_body(batch, supersedes)
        repo.storage.save(name, seal_object(repo.keys, T_INDEX, name, body))
        names.append(name)

    for info, entries in packs:
        batch.append((info, entries))
        rows += len(entries)
        if rows >= INDEX_OBJECT_BLOBS:
            emit()
            batch, rows = [], 0
    if batch:
        emit()
    repo.storage.sync()
    return names


def remove_all(repo: Repository, names: Iterable[str]) -> int:
    """Remove objects (already gone is fine); sync. Returns how many were removed."""
    removed = 0
    for name in names:
        try:
            repo.storage.remove(name)
            removed += 1
        except NotFound:
            pass
    repo.storage.sync()
    return removed


@dataclass
class IndexedPacks:
    """What the index objects say, pack by pack, and what they could not say."""

    packs: dict[str, PackEntries] = field(default_factory=dict)
    index_names: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # index objects that do not open


def read_index_objects(repo: Repository, progress: Progress = no_progress) -> IndexedPacks:
    """Every index object's packs (a pack named twice is kept once)."""
    found = IndexedPacks()
    names = repo.index_names()
    for i, name in enumerate(names, 1):
        progress("reading index", i, len(names))
        try:
            body = repo.load_index_object(name)
            parsed = list(parse_index_body(body))
        except (DamagedData, KeyError, TypeError, IndexError) as exc:
            found.damaged[name] = str(exc)
            continue
        except NotFound:
            continue
        found.index_names.append(name)
        for info, entries in parsed:
            found.packs.setdefault(info.name, (info, entries))
    return found


@dataclass
class RebuildStats:
    packs: int = 0
    blobs: int = 0
    walked: list[str] = field(default_factory=list)  # packs read frame by frame, and why
    unreadable: list[str] = field(default_factory=list)  # packs without a readable header
    index_objects_removed: int = 0
    index_objects_written: int = 0


def rebuild_index(repo: Repository, progress: Progress = no_progress) -> RebuildStats:
    """Replace every index object by ones read from the packs themselves.

    Takes the exclusive lock. Packs whose header is unreadable are left alone (and
    reported); nothing but index objects is written or removed.
    """
    stats = RebuildStats()
    with repo.lock(True, "rebuild-index") as lock:
        old = repo.index_names()
        names = sorted(repo.storage.list(PACKS_PREFIX))
        packs: list[PackEntries] = []
        for i, name in enumerate(names, 1):
            progress("reading packs", i, len(names))
            try:
                (info, entries), note = read_pack(repo, name)
            except (DamagedData, NotFound) as exc:
                stats.unreadable.append(f"{name}: {exc}")
                continue
            if note is not None:
                stats.walked.append(f"{note}; {len(entries)} blobs recovered")
            packs.append((info, entries))
            stats.packs += 1
            stats.blobs += len(entries)
        lock.check()
        new = write_index(repo, packs, supersedes=old)
        stats.index_objects_written = len(new)
        stats.index_objects_removed = remove_all(repo, old)
        repo.load_index()
    return stats
