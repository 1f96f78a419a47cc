"""Limits on ``registerNewUser`` and ``recoverPassword``: per client address and per e-mail
address, in a sliding window of ``request_window`` seconds.

Rules:
- A request whose fields are valid counts before any costly work (hashing, mail), checked
  and counted in one transaction (see ``windows``), so a burst gets no more than the limit.
  A refused request is not counted: hammering does not extend the wait.
- The limits never look at accounts: they answer the same whether or not an address has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backuprun.config import Settings
from backuprun.netaddr import address_key
from backuprun.portal.accounts.windows import serialize
from backuprun.portal.db.models import RequestEvent
from backuprun.portal.errors import ErrorCode, PortalError


@dataclass(frozen=True)
class Limit:
    action: str
    per_address: str  # the settings that hold the limits
    per_email: str


REGISTER = Limit("register", "register_max_per_address", "register_max_per_email")
RECOVER = Limit("recover", "recovery_max_per_address", "recovery_max_per_email")


async def take(db: AsyncSession, settings: Settings, limit: Limit, email_key: str,
               address: str, now: datetime) -> None:
    """Count this request, or raise ``request_throttled`` when a limit is reached."""
    address = address_key(address)
    await serialize(db, f"{limit.action}-address:{address}", f"{limit.action}-email:{email_key}")
    since = now - timedelta(seconds=settings.request_window)
    await db.execute(delete(RequestEvent).where(RequestEvent.action == limit.action,
                                                RequestEvent.at <= since))
    for column, value, setting in ((RequestEvent.address, address, limit.per_address),
                                   (RequestEvent.email_key, email_key, limit.per_email)):
        count = await db.scalar(select(func.count()).where(
            RequestEvent.action == limit.action, column == value, RequestEvent.at > since))
        if count >= getattr(settings, setting):
            raise PortalError(ErrorCode.REQUEST_THROTTLED)
    db.add(RequestEvent(action=limit.action, email_key=email_key, address=address, at=now))
