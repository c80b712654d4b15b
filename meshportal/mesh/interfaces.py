"""Which IPv4 addresses this box has now: checked cheaply, compared for changes.

zeroconf opens its sockets on the interfaces that exist when it starts; a
Wi-Fi dongle plugged in later, or a cable, would go unseen.  The daemon
re-reads the address list every few seconds (one getifaddrs call, no
traffic) and restarts discovery when it changed.
"""

from __future__ import annotations

import ipaddress

WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind


def current_ipv4() -> frozenset[str]:
    """Every non-loopback, non-link-local IPv4 address of this host."""
    import ifaddr  # zeroconf's own dependency

    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and _usable(ip.ip):
                found.add(ip.ip)
    return frozenset(found)


def _usable(address: str) -> bool:
    parsed = ipaddress.IPv4Address(address)
    return not (parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def addresses_for(host: str) -> frozenset[str]:
    """The addresses discovery should use, given the address the daemon listens on."""
    if host in WILDCARDS:
        return current_ipv4()
    return frozenset({host})
