"""The session file: which portal, as whom, and the session cookie ``login`` set.

- Where: ``--session FILE``, else ``BACKUPRUN_SESSION``, else
  ``$XDG_CONFIG_HOME/backuprun/session.json`` (``~/.config/backuprun/session.json``).
- What: JSON, ``{"version": 1, "url": ..., "email": ..., "cookies": {name: value},
  "created": ISO time}``.
- How: written whole (a temporary file beside it, then renamed over it) with mode 0600 from
  its first byte; a folder made for it is 0700. A file that cannot be read as a session is
  :class:`SessionFileError`, never silently replaced by another login's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from backuprun.client import atomicfile

ENV = "BACKUPRUN_SESSION"
VERSION = 1


class SessionFileError(Exception):
    """The session file exists but cannot be used (unreadable, not ours, not JSON)."""


@dataclass
class Session:
    url: str
    email: str
    cookies: dict[str, str] = field(default_factory=dict)
    created: str = ""


def default_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "backuprun" / "session.json"


def resolve(option: Path | None) -> Path:
    """The session file: the option (typer also reads ``BACKUPRUN_SESSION`` into it) or the
    default."""
    return option if option is not None else default_path()


def load(path: Path) -> Session | None:
    """The session in ``path``; ``None`` when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SessionFileError(f"cannot read the session file {path}: "
                               f"{exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        if data.get("version") != VERSION:
            raise ValueError("unknown version")
        cookies = data["cookies"]
        if not isinstance(cookies, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in cookies.items()):
            raise ValueError("bad cookies")
        return Session(str(data["url"]), str(data.get("email", "")), cookies,
                       str(data.get("created", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SessionFileError(f"the session file {path} is not a BackupRun session; "
                               "log in again (or remove it)") from None


def save(path: Path, session: Session) -> None:
    """Write ``session`` to ``path`` whole, readable by its owner only."""
    if not session.created:
        session.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data = {"version": VERSION, "url": session.url, "email": session.email,
            "cookies": session.cookies, "created": session.created}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with atomicfile.replacing(path, 0o600, text=True) as out:
            json.dump(data, out, indent=2)
            out.write("\n")
    except OSError as exc:
        raise SessionFileError(f"cannot write the session file {path}: "
                               f"{exc.strerror or exc}") from None


def remove(path: Path) -> bool:
    """Remove the session file; whether there was one."""
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SessionFileError(f"cannot remove the session file {path}: "
                               f"{exc.strerror or exc}") from None
