"""The agent's data folder and its own identity.

Layout of ``<data-dir>``:
- ``identity/``: the agent's key (``key.pem``, 0600) and self-signed certificate
  (``cert.pem``), made on first use and kept: backup servers pin it at first contact, so a
  new one makes them refuse this agent as an impostor until its owner resets the pin.
- ``trusted/``: one PEM certificate per trusted backup server (see :mod:`trust`).
- ``tree-cache/``: the trees of the last backup of each disk safe (see :mod:`treecache`).

The default folder is ``/var/lib/backuprun-agent`` for root and
``~/.local/share/backuprun-agent`` for anyone else, so an ordinary user's agent never needs
a folder it cannot write.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from backuprun.transport.tls import Identity

SYSTEM_DATA_DIR = Path("/var/lib/backuprun-agent")
IDENTITY = "identity"


def default_data_dir() -> Path:
    """The data folder when ``--data-dir`` is not given."""
    if os.geteuid() == 0:
        return SYSTEM_DATA_DIR
    return Path.home() / ".local" / "share" / "backuprun-agent"


def ensure(data_dir: Path) -> Path:
    """``data_dir``, created (owner only) when missing."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return data_dir


def load_identity(data_dir: Path) -> Identity:
    """The agent's identity in ``<data_dir>/identity``, made on first use."""
    common_name = f"backuprun agent {socket.gethostname()}"[:64]  # X.509's limit
    return Identity.load_or_create(ensure(data_dir) / IDENTITY, common_name)
