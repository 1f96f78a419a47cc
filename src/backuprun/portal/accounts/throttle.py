"""Login throttling: sliding windows per account and per client address, never a lock-out.

Rules:
- A client address with ``login_max_failures_per_address`` failed logins (any accounts) in the
  last ``login_window`` seconds is refused until its oldest failure leaves the window.
- An account with ``login_max_failures_per_account`` failed logins since its last successful
  one, within the window, is refused from unfamiliar addresses until failures leave the
  window. An address the account logged in from successfully in the last
  ``login_familiar_days`` days stays exempt from this account-wide limit, so an attacker
  elsewhere cannot keep the owner out; a password reset counts as a success.
- An IPv6 client is counted by its /64 network (one customer's whole allocation), an IPv4
  client by its address.
- Refused attempts are not recorded (hammering does not extend the wait); windows expire by
  themselves, so nothing locks anyone out for good.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backuprun.config import Settings
from backuprun.portal.db.models import LoginAttempt
from backuprun.portal.errors import ErrorCode, PortalError


def address_key(address: str) -> str:
    """What one client is counted as: an IPv4 address, or an IPv6 /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def check(db: AsyncSession, settings: Settings, email_key: str, address: str,
                now: datetime) -> None:
    """Raise ``login_throttled`` when this attempt must be refused."""
    address = address_key(address)
    window_start = now - timedelta(seconds=settings.login_window)
    by_address = await db.scalar(select(func.count()).where(
        LoginAttempt.address == address, LoginAttempt.succeeded.is_(False),
        LoginAttempt.at > window_start))
    if by_address >= settings.login_max_failures_per_address:
        raise PortalError(ErrorCode.LOGIN_THROTTLED)

    familiar_since = now - timedelta(days=settings.login_familiar_days)
    familiar = await db.scalar(select(func.count()).where(
        LoginAttempt.email_key == email_key, LoginAttempt.address == address,
        LoginAttempt.succeeded.is_(True), LoginAttempt.at > familiar_since))
    if familiar:
        return
    last_success = await db.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.email_key == email_key, LoginAttempt.succeeded.is_(True)))
    since = max(window_start, last_success) if last_success else window_start
    by_account = await db.scalar(select(func.count()).where(
        LoginAttempt.email_key == email_key, LoginAttempt.succeeded.is_(False),
        LoginAttempt.at > since))
    if by_account >= settings.login_max_failures_per_account:
        raise PortalError(ErrorCode.LOGIN_THROTTLED)


async def record(db: AsyncSession, settings: Settings, email_key: str, address: str,
                 succeeded: bool, now: datetime) -> None:
    address = address_key(address)
    db.add(LoginAttempt(email_key=email_key, address=address, succeeded=succeeded, at=now))
    if not succeeded:
        await db.execute(delete(LoginAttempt).where(or_(
            LoginAttempt.at < now - timedelta(days=settings.login_familiar_days),
            and_(LoginAttempt.succeeded.is_(False),
                 LoginAttempt.at < now - timedelta(seconds=settings.login_window)),
        )))
