"""The disk safes a backup server has opened lately, kept open between tasks and calls.

Opening a safe derives its key from the password (Argon2id) and reads its whole index:
a fixed cost that dominated a backup with nothing new to store, and was paid again at every
click of a folder in a recovery point. A backup server keeps the safes it opened last, up to
:data:`CAPACITY` of them holding at most :data:`MAX_BLOBS` blobs in all (an index costs
~150 bytes a blob in memory: a safe of a million small files ~150 MB; a bigger safe is
opened anew each time). Each use brings the index up to date
(:meth:`Repository.refresh_index` lists the index objects and reads only new ones, or all
of them after a prune), so a safe written by another worker process is read as it is now.

An entry is named by everything that decides what opening would give: the service, the
safe's location and identity (a safe made again for a new encryption setting is another
one) and the sealed password (a new password opens the safe anew). The key stays in the
server's memory, where it is anyway while any task of that service runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from backuprun.disksafe.repository import Repository

CAPACITY = 16  # open safes kept; each holds its index in memory ...
MAX_BLOBS = 2_000_000  # ... and the blobs of all their indexes, at most (~300 MB)


class OpenSafes:
    def __init__(self, capacity: int = CAPACITY, max_blobs: int = MAX_BLOBS):
        self.capacity = capacity
        self.max_blobs = max_blobs
        self._open: OrderedDict[tuple, Repository] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, opener: Callable[[], Repository], fresh_index: bool) -> Repository:
        """The safe named ``key``, opened by ``opener`` unless it is open already; with
        ``fresh_index``, its index brought up to date."""
        with self._lock:
            repo = self._open.get(key)
        if repo is None:
            repo = opener()
        elif fresh_index:
            repo.refresh_index()
        with self._lock:  # sizes change as backups add blobs: evict on every use
            self._open[key] = repo
            self._open.move_to_end(key)
            while self._open and (len(self._open) > self.capacity or
                                  sum(len(r.index) for r in self._open.values()) > self.max_blobs):
                self._open.popitem(last=False)
        return repo
