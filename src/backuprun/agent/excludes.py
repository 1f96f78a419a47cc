"""What a backup leaves out: the default excludes, the policy's, and the agent's own folders.

Paths are as the agent sees them under its root, ``/``-led: with the root ``/srv/box`` the
exclude ``/tmp`` is ``/srv/box/tmp``, never the real ``/tmp`` nor the folder the agent was
started from. An excluded directory is left out with everything below it. A pattern with
``*``, ``?`` or ``[`` matches whole paths the shell-glob way (``/home/*/.cache``); any other
exclude is one exact path.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Callable

# Kernel and runtime file systems, and scratch space: never worth a recovery point.
DEFAULT_EXCLUDES = ("/proc", "/sys", "/dev", "/run", "/tmp")
_GLOB = set("*?[")


def rule(root: Path, excludes: list[str], own_folders: list[Path]) -> Callable[[bytes], bool]:
    """A predicate on absolute paths (bytes) under ``root``: true for what to leave out."""
    root_b = os.fsencode(os.path.realpath(root)).rstrip(b"/")
    exact: set[bytes] = set()
    patterns: list[bytes] = []
    for item in (*DEFAULT_EXCLUDES, *excludes):
        item = "/" + item.strip().strip("/")
        if item == "/":
            continue  # excluding the root would back up nothing: not an exclude
        target = root_b + os.fsencode(item)
        if _GLOB & set(item):
            patterns.append(target)
        else:
            exact.add(target)
    for folder in own_folders:
        exact.add(os.fsencode(os.path.realpath(folder)).rstrip(b"/"))
    if not patterns:
        return exact.__contains__
    compiled = [fnmatch.translate(os.fsdecode(p)) for p in patterns]
    matcher = re.compile("|".join(f"(?:{c})" for c in compiled))

    def excluded(path: bytes) -> bool:
        return path in exact or matcher.match(os.fsdecode(path)) is not None

    return excluded
