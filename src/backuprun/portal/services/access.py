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

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from backuprun.portal.accounts.service import Caller
from backuprun.portal.db.models import Service
from backuprun.portal.errors import ErrorCode, PortalError


class Need(Enum):
    SEE = "see"
    RUN = "run"
    CHANGE = "change"


def visible(caller: Caller) -> Select:
    """The services ``caller`` may see."""
    account = caller.account
    if account.is_subuser:
        return select(Service).where(Service.account_id == account.parent_id,
                                     Service.subuser_id == account.id)
    return select(Service).where(Service.account_id == account.id)


async def service_for(db: AsyncSession, caller: Caller, number: int, field: str,
                      need: Need, kind: int | None = None) -> Service:
    """The service ``number`` if ``caller`` may ``need`` it; ``kind`` must match when the
    id came with its type letter (``V12``)."""
    service = await db.scalar(visible(caller).where(Service.id == number).with_for_update())
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


__all__ = ["Need", "visible", "service_for", "check_changeable", "is_readonly_for"]
