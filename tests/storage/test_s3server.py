"""The test S3 server keeps to itself: it listens on, and talks from, 127.0.0.1 only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

LISTEN = "0A"


def _sockets(pid: int) -> list[tuple[str, int, str]]:
    """(address, port, state) of every TCP socket of process ``pid`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes:
                address, port = local.split(":")
                found.append((address, int(port, 16), state))
    return found


@pytest.mark.s3
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_weed_uses_loopback_only(s3_server) -> None:
    sockets = _sockets(s3_server.process.pid)
    listening = [s for s in sockets if s[2] == LISTEN]
    assert len(listening) >= 5  # master, volume, filer, s3 and their gRPC ports
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
    assert [s for s in sockets if s[0] != loopback] == []  # no outside listener or call
