"""Blobs in a dict: a fast, thread-safe backend for tests.

``memory://<name>`` URLs reopen the same store within a process while it is alive, so
code that passes a storage around by URL works against it too.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterator

from backuprun.storage.base import AlreadyExists, NotFound, check_name, could_prefix_a_name

_open: weakref.WeakValueDictionary[str, MemoryStorage] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()
_counter = itertools.count(1)


class MemoryStorage:
    """Blobs held in memory, gone with the object (or the process)."""

    def __init__(self, name: str | None = None) -> None:
        self.url = f"memory://{name or f'store-{next(_counter)}'}"
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        with _open_lock:
            _open[self.url] = self

    @classmethod
    def from_url(cls, url: str) -> MemoryStorage:
        """The live store of that URL, or a new empty one under it."""
        name = url.removeprefix("memory://")
        with _open_lock:
            store = _open.get(url)
        return store if store is not None else cls(name or None)

    def save(self, name: str, data: bytes | memoryview, *, overwrite: bool = False) -> None:
        check_name(name)
        blob = bytes(data)
        with self._lock:
            if not overwrite and name in self._blobs:
                raise AlreadyExists(name)
            self._blobs[name] = blob

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(f"bad range: offset={offset} length={length}")
        blob = self._get(name)
        return blob[offset:] if length is None else blob[offset:offset + length]

    def size(self, name: str) -> int:
        return len(self._get(name))

    def exists(self, name: str) -> bool:
        return check_name(name) in self._blobs

    def list(self, prefix: str = "") -> Iterator[str]:
        if not could_prefix_a_name(prefix):
            return
        with self._lock:
            names = [n for n in self._blobs if n.startswith(prefix)]
        yield from names

    def remove(self, name: str) -> None:
        check_name(name)
        with self._lock:
            if self._blobs.pop(name, None) is None:
                raise NotFound(name)

    def prefetch(self, name: str, offset: int, length: int) -> None:
        pass  # in memory already

    def sync(self) -> None:
        """Nothing to do."""

    def _get(self, name: str) -> bytes:
        try:
            return self._blobs[check_name(name)]
        except KeyError:
            raise NotFound(name) from None
