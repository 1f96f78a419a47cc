"""Writing restored file data so that runs of zeros become holes, as they were on disk.

A sparse file's chunks do not line up with its holes (a chunk may hold data and then
megabytes of zeros), so a whole-chunk test is not enough: within each chunk of a file the
backup found sparse, every run of at least ``BLOCK`` zeros is skipped instead of written
(the file is new, so what is not written reads as zeros). The file is then extended to its
size with ``ftruncate``; every file-system block no write touched stays a hole.
Finding the runs is C-speed (``bytes.find`` for the start, a regex for the end), and only
sparse files pay for it.
"""

from __future__ import annotations

import os
import re

BLOCK = 4096
_ZERO_BLOCK = bytes(BLOCK)
_ZEROS = re.compile(rb"\x00+")


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """``os.pwrite`` until all of ``data`` is written at ``offset``."""
    n = os.pwrite(fd, data, offset)
    if n < len(data):
        view = memoryview(data)[n:]
        while view:
            n = os.pwrite(fd, view, offset + len(data) - len(view))
            view = view[n:]


def zero_runs(data: bytes | memoryview):
    """``(start, end)`` of each run of at least ``BLOCK`` zeros in ``data``."""
    find = data.find if isinstance(data, bytes) else bytes(data).find
    pos = 0
    while (start := find(_ZERO_BLOCK, pos)) >= 0:
        pos = _ZEROS.match(data, start).end()
        yield start, pos


def write_with_holes(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write ``data`` at ``offset``, leaving its block-sized zero runs unwritten (holes
    once the file is extended to its size)."""
    view = memoryview(data)
    pos = 0
    for lo, hi in zero_runs(data):
        if lo > pos:
            pwrite_all(fd, view[pos:lo], offset + pos)
        pos = hi
    if pos < len(view):
        pwrite_all(fd, view[pos:], offset + pos)
