"""Who a client is, for counting its requests: one rule for the portal's throttles and the
backup servers' login pages. Imports nothing of ours."""

from __future__ import annotations

import ipaddress


def address_key(address: str) -> str:
    """What one client is counted as: an IPv4 address, or an IPv6 /64 network (one
    customer's whole allocation); an IPv4-mapped IPv6 address counts as its IPv4 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
