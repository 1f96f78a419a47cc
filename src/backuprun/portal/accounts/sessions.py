"""Server-side sessions: a random token in an HttpOnly cookie, its SHA-256 in the database.

Rules:
- Every login (and every password reset) makes a new token; the caller's previous session,
  if any, is ended (no fixation).
- A session expires after ``session_lifetime`` seconds, or ``remember_lifetime`` when the
  user asked to be remembered; expired sessions are refused, and deleted at the next login
  (of anyone): looking a session up only reads.
- A password change ends the account's other sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from backuprun.config import Settings
from backuprun.portal.accounts.tokens import digest, new_secret
from backuprun.portal.db.models import Account, Session


@dataclass(frozen=True)
class NewSession:
    token: str
    max_age: int | None  # cookie lifetime in seconds; None: until the browser closes


async def start(db: AsyncSession, settings: Settings, account: Account, remember: bool,
                now: datetime, previous_token: str | None = None) -> NewSession:
    if previous_token:
        await end(db, previous_token)
    await db.execute(delete(Session).where(Session.expires_at <= now))
    lifetime = settings.remember_lifetime if remember else settings.session_lifetime
    token = new_secret()
    db.add(Session(token_hash=digest(token), account_id=account.id, remember=remember,
                   created_at=now, expires_at=now + timedelta(seconds=lifetime)))
    return NewSession(token, lifetime if remember else None)


# built once: every call of a logged-in user looks its session up
_FIND = (select(Account, Session).join(Session, Session.account_id == Account.id)
         .where(Session.token_hash == bindparam("token_hash")))


def find(db: SyncSession, token: str, now: datetime) -> tuple[Account, Session] | None:
    """The session of ``token`` and its account (synchronous: ``Sessions.read`` runs it)."""
    row = db.execute(_FIND, {"token_hash": digest(token)}).first()
    if row is None:
        return None
    account, session = row
    return None if session.expires_at <= now else (account, session)


async def end(db: AsyncSession, token: str) -> None:
    await db.execute(delete(Session).where(Session.token_hash == digest(token)))


async def end_all(db: AsyncSession, account_id: int, keep_session_id: int | None = None) -> None:
    query = delete(Session).where(Session.account_id == account_id)
    if keep_session_id is not None:
        query = query.where(Session.id != keep_session_id)
    await db.execute(query)
