"""Counting requests in sliding windows (login throttling, request limits): one request at
a time per key. Who a client is: ``backuprun.netaddr.address_key``.

Rules:
- Check and count happen in one transaction, before any costly work, under
  :func:`serialize`: concurrent requests for the same key take turns, so a burst cannot get
  more tries than the limit. SQLite needs nothing more (its transactions begin IMMEDIATE:
  one writer at a time); PostgreSQL takes transaction-scoped advisory locks, always in the
  order the caller names the keys.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def serialize(db: AsyncSession, *keys: str) -> None:
    """Until this transaction ends, no other transaction counts under any of ``keys``."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for key in keys:
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
