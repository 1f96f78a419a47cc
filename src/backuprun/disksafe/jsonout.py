"""The ``--json`` output of ``backuprun disksafe``: stable shapes for scripts.

Each shape is documented in ``docs/disksafe.md`` (fields are only ever added). Times are
ISO 8601 in UTC; sizes are bytes; paths are relative to the backed-up source, with bytes
that are not UTF-8 decoded as Python's surrogate escapes (``\\udc80``-``\\udcff``).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime, timezone

from backuprun.disksafe.recoverypoint import RecoveryPoint

_KINDS = {"f": "file", "d": "dir", "l": "symlink", "c": "char-device", "b": "block-device",
          "p": "fifo", "s": "socket"}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def emit(value) -> None:
    """One JSON document (or one JSON Lines row) on stdout."""
    sys.stdout.write(json.dumps(value) + "\n")


def point(p: RecoveryPoint) -> dict:
    s = p.stats
    return {"id": p.id, "time": iso(p.time), "host": p.host, "source": os.fsdecode(p.source),
            "parent": p.parent, "files": s.get("files", 0), "dirs": s.get("dirs", 0),
            "bytes_total": s.get("bytes_total", 0), "bytes_added": s.get("bytes_added", 0)}


def entry(path: bytes, e: dict) -> dict:
    out = {"path": "/" + os.fsdecode(path), "type": _KINDS.get(e["t"], "unknown"),
           "mode": stat.filemode(e["m"])[1:], "user": e.get("un"), "group": e.get("gn"),
           "uid": e.get("u"), "gid": e.get("g"), "size": e.get("sz", 0),
           "mtime": iso(e["mt"] / 1e9)}
    if e["t"] == "l":
        out["target"] = os.fsdecode(e["lt"])
    return out
