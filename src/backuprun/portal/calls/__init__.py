"""The ``apiCALL`` dispatch table: one module per domain, one handler per call.

Rules:
- A handler takes a :class:`Call` and returns an :class:`Answer`. It reads fields with
  :class:`Fields` (wire-level parsing: presence, 0/1 flags, integer ids), asks the domain's
  service to act, and builds the answer's elements. It holds no business rule.
- A handler that needs a session is wrapped in :func:`login_required`.
- To add a domain (``services``, ``tasks``): write ``calls/<domain>.py`` with its own
  ``CALLS`` dict and merge it into :data:`CALLS` below.
"""

from __future__ import annotations

from backuprun.portal.calls import accounts, policies, services, tasks
from backuprun.portal.calls.base import Answer, Call, Fields, Handler, login_required

CALLS: dict[str, Handler] = {
    **accounts.CALLS,
    **services.CALLS,
    **tasks.CALLS,
    **policies.CALLS,
}

__all__ = ["CALLS", "Answer", "Call", "Fields", "Handler", "login_required"]
