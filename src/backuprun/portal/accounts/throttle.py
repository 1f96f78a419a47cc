"""Login throttling: sliding windows per account and per client address, never a lock-out.

Rules:
- A client address with ``login_max_failures_per_address`` failed logins (any accounts) in the
  last ``login_window`` seconds is refused until its oldest failure leaves the window.
- An account with ``login_max_failures_per_account`` failed logins since its last successful
  one, within the window, is refused from unfamiliar addresses until failures leave the
  window. An address the account logged in from successfully in the last
  ``login_familiar_days`` days stays exempt from this account-wide limit, so an attacker
  elsewhere cannot keep the owner out; a password reset counts as a success.
- An attempt counts as a failure from the moment it is let through, before the password is
  hashed (:func:`reserve`: check and count in one transaction, see ``windows``); a right
  password then marks it succeeded (:func:`succeeded`). So a burst of concurrent attempts
  gets no more tries than the limit.
- Clients are counted as ``netaddr.address_key`` says (an IPv6 /64 network, an IPv4 address).
- Refused attempts are not recorded (hammering does not extend the wait); windows expire by
  themselves, so nothing locks anyone out for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backuprun.config import Settings
from backuprun.netaddr import address_key
from backuprun.portal.accounts.windows import serialize
from backuprun.portal.db.models import LoginAttempt
from backuprun.portal.errors import ErrorCode, PortalError


async def reserve(db: AsyncSession, settings: Settings, email_key: str, address: str,
                  now: datetime) -> int:
    """Raise ``login_throttled``, or count this attempt as a failure and return its id."""
    address = address_key(address)
    await serialize(db, f"login-address:{address}", f"login-account:{email_key}")
    await _check(db, settings, email_key, address, now)
    attempt = LoginAttempt(email_key=email_key, address=address, succeeded=False, at=now)
    db.add(attempt)
    await db.execute(delete(LoginAttempt).where(or_(
        LoginAttempt.at < now - timedelta(days=settings.login_familiar_days),
        and_(LoginAttempt.succeeded.is_(False),
             LoginAttempt.at < now - timedelta(seconds=settings.login_window)),
    )))
    await db.flush()
    return attempt.id


async def succeeded(db: AsyncSession, attempt_id: int, now: datetime) -> None:
    """The reserved attempt had the right password."""
    await db.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id)
                     .values(succeeded=True, at=now))


async def record_success(db: AsyncSession, email_key: str, address: str,
                         now: datetime) -> None:
    """A success that was not a login attempt (a password reset): lifts the account limit
    and makes the address familiar."""
    db.add(LoginAttempt(email_key=email_key, address=address_key(address), succeeded=True,
                        at=now))


async def _check(db: AsyncSession, settings: Settings, email_key: str, address: str,
                 now: datetime) -> None:
    """Raise ``login_throttled`` when this attempt must be refused."""
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
