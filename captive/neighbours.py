"""The kernel's neighbour table: which MAC address holds an IP right now.

Phones randomise their MAC, some per connection, so the MAC is extra evidence, not
the key: an acceptance is keyed by IP for the lease, and a *different* MAC now
seen on that IP means another device got the address, so it must accept again.
"""

from __future__ import annotations

import re
from pathlib import Path

ARP_TABLE = Path("/proc/net/arp")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_INCOMPLETE = "00:00:00:00:00:00"


def parse_arp_table(text: str) -> dict[str, str]:
    """IP -> MAC for the complete entries of /proc/net/arp's text."""
    table: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        ip, flags, mac = fields[0], fields[2], fields[3].lower()
        # flags 0x0 is an incomplete entry; 0x2 complete; 0x4 permanent
        if flags == "0x0" or mac == _INCOMPLETE or not _MAC_RE.match(mac):
            continue
        table[ip] = mac
    return table


def mac_of(ip: str, table_path: Path = ARP_TABLE) -> str | None:
    try:
        text = table_path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None  # not readable here (sandbox, other OS): no evidence, no harm
    return parse_arp_table(text).get(ip)
