"""How ``backuprun portal`` fails: one line on stderr, ``error: ...``, and one exit code per
kind (the table is in docs/client.md). Every command is wrapped in :func:`exits`; errors not
named in :func:`explain` are bugs and keep their traceback.
"""

from __future__ import annotations

import os

from backuprun.clihelp import INTERRUPTED, PIPE_CLOSED, one_line_errors  # noqa: F401 (codes of the table)

OK = 0
USAGE = 2  # bad arguments (click's own code)
NOT_LOGGED_IN = 3  # no session file, or the portal ended the session (expired, logged out)
UNREACHABLE = 4  # nothing (usable) answers at the URL, or a download broke off
API_ERROR = 5  # the portal refused the call; the message names its error code
LOGIN_FAILED = 6  # login: wrong e-mail address or password, or too many failed logins
TASK_ERROR = 7  # the backup or restore ended in ERROR
TASK_CANCELLED = 8  # the backup or restore was CANCELLED
LOCAL_FILE = 9  # a file here cannot be used: the session file, download's -o FILE

LOGIN_CODES = ("wrong_credentials", "login_throttled")


class UserError(Exception):
    """A mistake found here (before or instead of a call): ``code`` is the exit code."""

    def __init__(self, message: str, code: int = USAGE):
        super().__init__(message)
        self.code = code


class NotLoggedIn(UserError):
    def __init__(self, message: str):
        super().__init__(message, NOT_LOGGED_IN)


def explain(exc: BaseException) -> tuple[int, str] | None:
    """``(exit code, message)`` for an error a user can act on; ``None`` for a bug."""
    from backuprun.client.api import ApiError, Unreachable  # httpx: only once a command ran
    from backuprun.client.session import SessionFileError

    if isinstance(exc, UserError):
        return exc.code, str(exc)
    if isinstance(exc, ApiError):
        if exc.code == "not_logged_in":
            return NOT_LOGGED_IN, ("the portal ended this session (it expired, or was logged "
                                   "out); log in again: backuprun portal login URL --email E")
        if exc.code in LOGIN_CODES:
            return LOGIN_FAILED, str(exc)
        return API_ERROR, str(exc)
    if isinstance(exc, Unreachable):
        return UNREACHABLE, str(exc)
    if isinstance(exc, SessionFileError):
        return LOCAL_FILE, str(exc)
    if isinstance(exc, OSError):
        where = f"{os.fsdecode(exc.filename)}: " if exc.filename is not None else ""
        return LOCAL_FILE, f"{where}{(exc.strerror or str(exc)).lower()}"
    return None


exits = one_line_errors(explain)
