"""Counting requests in sliding windows (login throttling, request limits): who a client is,
and counting one request at a time per key.

Rules:
- An IPv6 client is counted by its /64 network (one customer's whole allocation), an IPv4
  client (or an IPv4-mapped IPv6 address) by its address.
- Check and count happen in one transaction, before any costly work, under
  :func:`serialize`: concurrent requests for the same key take turns, so a burst cannot get
  more tries than the limit. SQLite needs nothing more (its transactions begin IMMEDIATE:
  one writer at a time); PostgreSQL takes transaction-scoped advisory locks, always in the
  order the caller names the keys.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


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


async def serialize(db: AsyncSession, *keys: str) -> None:
    """Until this transaction ends, no other transaction counts under any of ``keys``."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for key in keys:
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
