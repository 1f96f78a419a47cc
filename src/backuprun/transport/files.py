"""Small files that must appear whole or not at all: keys, certificates, secrets.

Rules:
- A file is written to a temporary name in its own folder, flushed to disk, and then linked
  to its final name, which fails if the name exists: two processes racing to create the
  same file end with one of them, never a mixture, and the loser reads the winner's.
- Private files are created with mode 0600 (owner only) from the first byte on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_exclusive(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    _sync_folder(path.parent)
    return True


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
