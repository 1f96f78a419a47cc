"""The disk safes a backup server has opened lately, kept open between tasks and calls.

Opening a safe derives its key from the password (Argon2id) and reads its whole index:
a fixed cost that dominated a backup with nothing new to store, and was paid again at every
click of a folder in a recovery point. A backup server keeps the last :data:`CAPACITY`
opened safes; each use brings the index up to date (:meth:`Repository.refresh_index`
lists the index objects and reads only new ones, or all of them after a prune), so a
safe written by another worker process is read as it is now.

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

CAPACITY = 16  # open safes kept; each holds its index in memory


class OpenSafes:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._open: OrderedDict[tuple, Repository] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, opener: Callable[[], Repository], fresh_index: bool) -> Repository:
        """The safe named ``key``, opened by ``opener`` unless it is open already; with
        ``fresh_index``, its index brought up to date."""
        with self._lock:
            repo = self._open.get(key)
            if repo is not None:
                self._open.move_to_end(key)
        if repo is None:
            repo = opener()
            with self._lock:
                self._open[key] = repo
                while len(self._open) > self.capacity:
                    self._open.popitem(last=False)
        elif fresh_index:
            repo.refresh_index()
        return repo
