"""The one small interface every storage backend implements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]*$")
TEMP_PREFIX = ".tmp-"  # reserved: a local folder's half-written files start with it


class StorageError(Exception):
    """A backend could not do what was asked."""


class TransientError(StorageError):
    """A failure that may pass if tried again (network, throttling, a server's 5xx)."""


class NotFound(StorageError):
    """No blob has that name."""


class AlreadyExists(StorageError):
    """A blob with that name exists and overwrite was not allowed."""


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid blob name, else raise ``ValueError``."""
    if not _NAME.match(name) or any(part in (".", "..") or part.startswith(TEMP_PREFIX)
                                     for part in name.split("/")):
        raise ValueError(f"invalid storage name: {name!r}")
    return name


def could_prefix_a_name(prefix: str) -> bool:
    """Whether some valid name starts with ``prefix`` (``../`` or ``a//`` never do).

    Backends list nothing for other prefixes, rather than walk outside their root or
    meet a server's path clean-up (SeaweedFS lists ``p//`` as ``p/``).
    """
    if not _PREFIX.match(prefix):
        return False
    *folders, last = prefix.split("/")
    return not (last.startswith(TEMP_PREFIX) or any(
        part in (".", "..") or part.startswith(TEMP_PREFIX) for part in folders))


@runtime_checkable
class Storage(Protocol):
    """Named immutable blobs. See the package docstring for the rules."""

    url: str

    def save(self, name: str, data: bytes | memoryview, *, overwrite: bool = False) -> None:
        """Store ``data`` under ``name`` atomically."""

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return the blob, or ``length`` bytes of it from ``offset``."""

    def size(self, name: str) -> int:
        """Return the blob's size in bytes."""

    def exists(self, name: str) -> bool:
        """Whether a blob has that name."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield the names that start with ``prefix``."""

    def remove(self, name: str) -> None:
        """Delete the blob; a missing one raises ``NotFound``."""

    def sync(self) -> None:
        """Make every completed ``save`` durable (fsync of directories where needed)."""

    def prefetch(self, name: str, offset: int, length: int) -> None:
        """A hint: ``length`` bytes of the blob from ``offset`` will be loaded soon. It
        returns at once and never raises; a storage may start reading them, or ignore it."""
