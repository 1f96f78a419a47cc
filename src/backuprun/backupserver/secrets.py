"""Secrets the backup server must keep and use again (disk-safe passwords, service logins),
sealed with the server's own key (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key is ``secret.key`` in the backup server's data folder, created (mode 0600) on first
use. Workers that run this server's tasks on other hosts need the same file. Losing it
makes sealed passwords unreadable: back it up with the server's configuration.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"
OPENED_KEPT = 4096  # secrets kept opened (an LRU)


class SecretBox:
    def __init__(self, key: bytes):
        self._fernet = Fernet(key)
        # what was opened, kept: every status call shows the service login's password, and
        # opening a thousand of them costs ~25 ms; the process holds the key anyway
        self.open = functools.lru_cache(maxsize=OPENED_KEPT)(self._open)

    @classmethod
    def in_folder(cls, folder: Path) -> "SecretBox":
        path = Path(folder) / KEY_FILE
        try:
            return cls(path.read_bytes().strip())
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        try:
            os.link(tmp, path)  # first writer wins; a racing process reads the winner's key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def _open(self, sealed: str) -> str:
        """The secret ``sealed`` holds (``ValueError`` if this key did not seal it)."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("a sealed secret does not open with this server's key") from None
