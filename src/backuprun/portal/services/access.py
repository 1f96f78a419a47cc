"""Who may do what to which service: the one place the permission rule lives.

- The owner (the main account) may do everything.
- A subuser may ``SEE`` and ``RUN`` (back up, restore) the services assigned to it; any
  other action on them is ``not_allowed``.
- Any other caller, and any id that does not exist, gets ``service_not_found``: the answer
  does not tell whether the id belongs to someone else.
- ``CHANGE`` is also refused for a service that is terminated, read-only, restricted or
  under maintenance, each with its own error.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from backuprun.portal.accounts.service import Caller
from backuprun.portal.db.models import Service
from backuprun.portal.errors import ErrorCode, PortalError


class Need(Enum):
    SEE = "see"
    RUN = "run"
    CHANGE = "change"


_OWNED = select(Service).where(Service.account_id == bindparam("account_id"))
_ASSIGNED = _OWNED.where(Service.subuser_id == bindparam("subuser_id"))
# built once (every call on a service asks): all of them by id, and one, as its owner sees
# them and as a subuser does
_ALL_AND_ONE = {subuser: (q.order_by(Service.id), q.where(Service.id == bindparam("number")))
                for subuser, q in ((False, _OWNED), (True, _ASSIGNED))}


def _visible(caller: Caller) -> tuple[tuple[Select, Select], dict]:
    """The statements for the services ``caller`` may see (all, one), and their parameters."""
    account = caller.account
    if account.is_subuser:
        return _ALL_AND_ONE[True], {"account_id": account.parent_id, "subuser_id": account.id}
    return _ALL_AND_ONE[False], {"account_id": account.id}


def visible_services(db: Session, caller: Caller) -> list[Service]:
    """The services ``caller`` may see, by id (synchronous, like :func:`service_for`)."""
    (every, _), params = _visible(caller)
    return list(db.scalars(every, params))


def service_for(db: Session, caller: Caller, number: int, field: str, need: Need,
                kind: int | None = None, lock: bool = False) -> Service:
    """The service ``number`` if ``caller`` may ``need`` it; ``kind`` must match when the
    id came with its type letter (``V12``). ``lock``: its row stays locked until the
    transaction ends (for a change made in the same transaction). Synchronous:
    ``Sessions.read`` runs it, or an async session's ``run_sync``."""
    (_, one), params = _visible(caller)
    service = db.scalar(one.with_for_update() if lock else one, {**params, "number": number})
    if service is None or (kind is not None and service.kind != kind):
        raise PortalError(ErrorCode.SERVICE_NOT_FOUND, field)
    if need is Need.CHANGE:
        if caller.account.is_subuser:
            raise PortalError(ErrorCode.NOT_ALLOWED)
        check_changeable(service)
    return service


def check_changeable(service: Service) -> None:
    if service.terminated_at is not None:
        raise PortalError(ErrorCode.SERVICE_TERMINATED)
    if service.readonly:
        raise PortalError(ErrorCode.SERVICE_READONLY)
    if service.restricted:
        raise PortalError(ErrorCode.SERVICE_RESTRICTED)
    if service.maintenance:
        raise PortalError(ErrorCode.SERVICE_MAINTENANCE)


def is_readonly_for(caller: Caller, service: Service) -> bool:
    """What ``readonly`` says to this caller: may it change the service at all?"""
    return bool(caller.account.is_subuser or service.readonly or service.restricted
                or service.maintenance or service.terminated_at is not None)


__all__ = ["Need", "visible_services", "service_for", "check_changeable", "is_readonly_for"]
