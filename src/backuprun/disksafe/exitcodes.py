"""How ``backuprun disksafe`` fails: one error line on stderr and one exit code per kind.

This is the one place that maps an error to its message and exit code (the table is in
``docs/disksafe.md``). Every command is wrapped in :func:`exits`: a user's mistake or the
environment's state (a missing source, an unreachable endpoint, a closed pipe) ends the
command with ``error: <what is wrong>: <what to do>``, never with a traceback. Errors not
named here are bugs and keep their traceback.
"""

from __future__ import annotations

import errno
import os

from backuprun.clihelp import INTERRUPTED, PIPE_CLOSED, one_line_errors  # noqa: F401 (codes of the table)

from backuprun.disksafe.errors import (DiskSafeError, SafeLocked, SafeNotFound,
                                       WrongPassword)
from backuprun.storage.base import StorageError, TransientError

OK = 0
FAILED = 1  # nothing (more) was changed: damaged objects, a prune that stopped, no such point
USAGE = 2  # bad arguments (click's own code)
WARNINGS = 3  # done, with warnings
LOCAL_PATH = 4  # a file or folder on this machine cannot be used as asked
STORAGE = 5  # the storage cannot be reached, or refuses
NO_SAFE = 10
LOCKED = 11
PASSWORD = 12  # wrong password, or none given

_HINTS = {
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "name a folder",
    errno.EISDIR: "name a file, not a folder",
    errno.EEXIST: "remove it or choose another path",
    errno.EACCES: "check its permissions, or run as a user who may use it",
    errno.EPERM: "check its permissions, or run as a user who may use it",
    errno.EROFS: "it is on a read-only file system: choose another place",
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is used up: free some space and run the command again",
}
_S3_ENV = "AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION"


class UserError(Exception):
    """A mistake the command found itself: ``message`` says what to do, ``code`` is the
    exit code."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def _os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    hint = _HINTS.get(exc.errno or 0)
    where = os.fsdecode(exc.filename) if exc.filename is not None else ""
    text = f"{where}: {what.lower()}" if where else what
    return f"{text}: {hint}" if hint else text


def _storage_error(exc: StorageError) -> tuple[int, str]:
    cause = exc.__cause__
    if isinstance(cause, OSError):  # a local folder
        return LOCAL_PATH, f"{exc}: {_HINTS.get(cause.errno or 0, 'check the folder')}"
    if type(cause).__name__ == "NoCredentialsError":
        return STORAGE, (f"no S3 credentials ({exc}): set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other "
                         "than AWS)")
    if isinstance(exc, TransientError):
        return STORAGE, (f"cannot reach the storage ({exc}): check the network and "
                         f"{_S3_ENV}, then run the command again")
    return STORAGE, f"the storage refused ({exc}): check {_S3_ENV} and the bucket's permissions"


def explain(exc: BaseException) -> tuple[int, str] | None:
    """``(exit code, message)`` for an error a user can act on; ``None`` for a bug."""
    if isinstance(exc, UserError):
        return exc.code, str(exc)
    if isinstance(exc, SafeNotFound):
        return NO_SAFE, f"{exc}: check LOCATION, or create a safe there with init"
    if isinstance(exc, SafeLocked):
        return LOCKED, f"{exc}: wait for it to finish, then run the command again"
    if isinstance(exc, WrongPassword):
        return PASSWORD, (f"{exc}: check --password-file or BACKUPRUN_DISKSAFE_PASSWORD")
    if isinstance(exc, DiskSafeError):
        return FAILED, str(exc)
    if isinstance(exc, StorageError):
        return _storage_error(exc)
    if isinstance(exc, OSError):
        return LOCAL_PATH, _os_error(exc)
    return None


exits = one_line_errors(explain)
