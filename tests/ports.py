"""Free ports for servers the tests start."""

from __future__ import annotations

import random
import socket


def free_location_port_base(ids=(527, 528, 529, 530, 600)) -> int:
    """A ``location_https_port_base`` whose location ports are free now, so test portals
    (each with its locations' https listeners) do not collide."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - max(ids))
        try:
            for i in ids:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + i))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range for the locations")
