"""Recovery points: what a finished backup commits, last of all its objects.

Stored as the sealed object ``points/<32 hex>`` with the msgpack body::

    {"v": 1, "time": float (end, Unix s), "start": float, "host": str,
     "source": bytes (absolute source path), "tree": bytes (root tree id),
     "parent": str | None, "stats": {...}, "root": entry (the source directory's metadata)}
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass
class RecoveryPoint:
    id: str
    time: float
    start: float
    host: str
    source: bytes
    tree: bytes
    parent: str | None = None
    stats: dict = field(default_factory=dict)
    root: dict | None = None  # metadata of the source directory itself

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    def to_body(self) -> dict:
        return {"v": 1, "time": self.time, "start": self.start, "host": self.host,
                "source": self.source, "tree": self.tree, "parent": self.parent,
                "stats": self.stats, "root": self.root}

    @classmethod
    def from_body(cls, point_id: str, body: dict) -> RecoveryPoint:
        return cls(point_id, body["time"], body["start"], body["host"], body["source"],
                   body["tree"], body.get("parent"), body.get("stats", {}), body.get("root"))
