"""Client addresses: one spelling each, and what one client is counted by."""

from __future__ import annotations

import ipaddress


def canonical(address: str) -> str:
    """One spelling per address: '::ffff:10.0.0.1' is 10.0.0.1, '2001:DB8::0:1' is '2001:db8::1'."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def address_key(address: str | None) -> str | None:
    """What one client is counted by: its IPv4 address, or its IPv6 /64 (one subscriber
    is handed a whole /64, so counting single IPv6 addresses would count nothing)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(canonical(address))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and not ip.is_loopback:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
