"""Keep glibc from handing big buffers back to the kernel after every use.

The data path allocates many short-lived 64 KiB-4 MiB buffers (reads, ciphertexts,
decompressed chunks). With glibc's defaults each one is a fresh mmap or a heap trim, and
the page faults that follow cost more kernel time than the compression saves (measured: 
a full restore spent 5 s of 6.8 s in the kernel). Raising the mmap and trim thresholds lets
freed buffers be reused; peak memory stays bounded by the pipeline's queues.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
_done = False

# Backup: pack buffers are mmaps of their own; zstd's outputs (up to compressBound(4 MiB))
# and chunk copies stay in the heap, reused, instead of a fresh mmap per chunk (that cost
# ~200k page faults and ~0.4 CPU-s per GB). Restore's short-lived 1-4 MiB chunks and read
# windows likewise.
BACKUP = {"mmap_threshold": 8 << 20, "trim_threshold": 16 << 20, "arenas": 1}
RESTORE = {"mmap_threshold": 16 << 20, "trim_threshold": 64 << 20, "arenas": 2}


def tune_malloc(mmap_threshold: int = 2 * 1024 * 1024,
                trim_threshold: int = 4 * 1024 * 1024, arenas: int = 2) -> bool:
    """Raise glibc's mmap/trim thresholds once per process; False where not glibc."""
    global _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    ok = mallopt(M_ARENA_MAX, arenas) == 1 and ok
    _done = ok
    return ok
