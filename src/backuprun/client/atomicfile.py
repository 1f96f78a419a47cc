"""A file written whole or not at all: the client's session file and downloads."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class CannotCreate(OSError):
    """The temporary file beside the target cannot be made (nothing was written)."""


@contextlib.contextmanager
def replacing(path: Path, mode: int, text: bool = False, suffix: str = "") -> Iterator[IO]:
    """Write ``path`` through a temporary file beside it (made owner-only), flushed to disk,
    given ``mode`` and renamed over ``path`` at the end; on any failure (Ctrl-C included) the
    temporary file is removed and ``path`` is as it was."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise CannotCreate(exc.errno, exc.strerror, exc.filename) from None
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) \
                as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
