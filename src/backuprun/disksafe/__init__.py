"""The disk safe: a deduplicated, compressed, (optionally) encrypted store of recovery points.

Layers (imports flow downward only; storage never sees a key or plaintext)::

    cli            backuprun disksafe init|backup|list|ls|restore|passwd|verify|forget|prune|rebuild-index
    check          verify: structure, optionally data; damage reported by file path
    forget         retention policies; forgetting recovery points
    prune          garbage collection: mark from recovery points, repack, crash-safe sweep
    reindex        pack contents from trailers, writing complete indexes, rebuild-index
    archiver       file tree -> chunks + tree blobs -> recovery point (incremental)
    metadata       stat/xattr/owner names -> tree entries (backup side)
    restorer       recovery point -> file tree (hard links, sparse files, two threads)
    restoremeta    tree entries -> owner, mode, times, xattrs (restore side); warnings
    listing        ls lines, streamed
    export         chosen paths -> a tar or zip archive, streamed (downloadFiles)
    tree           tree blobs: one per directory, entries with metadata and chunk ids
    recoverypoint  the recovery point record
    chunker        reading + FastCDC + keyed BLAKE3 ids, apart from storing (pull model)
    repository     an opened safe: config, index, blob reads, recovery points, locks
    packer         BlobWriter: packer threads compress+seal into packs, a saver stores them
    compress       zstd-3, skipped when it saves under 1/32
    memory         glibc malloc tuning for the data path
    errors         the errors the CLI turns into messages and exit codes
    pack / index   pack layout (frames, trailer) / in-memory index + index objects
    objects        sealed standalone objects (config, index, points)
    keys / crypto  key objects (Argon2id-wrapped bundle) / subkeys, AEAD or MAC sealing
    lock           locks stored in the safe (exclusive/shared, heartbeat, stale takeover)
    format         magic, version, object and blob types, storage name prefixes

The on-storage format is written down in ``docs/disksafe-format.md``.

API for tools built on the repository layer (as check, forget, prune and reindex are):

- ``Repository.open(storage, password)`` / ``Repository.init(storage, password, encrypted)``;
  ``repo.keys`` (``MasterKeys``), ``repo.config``, ``repo.storage``.
- ``repo.lock(exclusive: bool, purpose: str)`` -> ``Lock`` (context manager); call
  ``lock.check()`` before committing. Backup and anything that deletes take it exclusive.
- ``repo.index``: ``Index`` with ``lookup(id) -> (PackInfo, BlobEntry) | None``,
  ``blobs()`` (every (pack, entry)), ``packs()``, ``index_names``; ``repo.load_index()``
  re-reads it; ``repo.index_names()``, ``repo.load_index_object(name)`` and
  ``index.parse_index_body`` read index objects one by one.
- ``pack.read_trailer(storage, name, keys) -> (salt, size, entries)`` and
  ``pack.scan_frames(data)`` rebuild an index from packs (every data and tree blob of a
  pack is in its trailer; a rebuilt index object is ``index.index_body(...)``) plus
  ``objects.seal_object(keys, T_INDEX, name, body)`` write one (``index.new_index_name``).
- ``repo.load_blob(id)`` (verified plaintext), ``repo.load_blob_view(id)`` (same, possibly
  a view into a per-thread buffer), ``repo.load_tree(id)``, ``repo.locate(id)``;
  ``pack.open_blob(keys, salt, entry, sealed)`` checks one blob's sealed bytes.
- ``repo.points()``, ``repo.find_point(ref)``, ``repo.point_names()``,
  ``repo.load_point(name)``, ``repo.save_point(point)``; a point's ``tree`` is the root tree
  id; ``tree.walk(repo, tree_id)`` yields ``(path, entry)`` for every entry beneath it.
- ``repo.writer()`` -> ``BlobWriter``: ``claim(id)`` (True: you must store it), ``add``
  (plaintext; compressed and sealed by its threads), ``add_compressed`` (already zstd'd,
  e.g. by an agent), ``add_many``, ``lacks``, ``flush`` (data, sync, index, sync), ``abort``.
- ``repo.refresh_index()`` reads index objects written since the index was loaded (reloads
  all if some disappeared); ``repo.index.ids()`` is the raw id -> location dict.
- ``repo.lacking(ids)`` answers which chunk ids the safe lacks; ``repo.chunker_spec()`` is
  what an agent needs to chunk and name data like the safe (``chunker.Chunker``).

Rules: write data, then index, then the recovery point (``BlobWriter.flush`` syncs before
the index object and again after it); delete in the reverse order (points, then index
objects, then packs). Never delete a pack an index object names unless a newer index
object that ``supersedes`` it omits it, and never while another lock holder may write.
"""
