"""The kernel's neighbour table: which MAC address holds an IP right now.

Phones randomise their MAC, some per connection, so the MAC is extra evidence, not
the key: an acceptance is keyed by IP for the lease, and a *different* MAC now
seen on that IP means another device got the address, so it must accept again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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


def read_arp_table(table_path: Path = ARP_TABLE) -> dict[str, str]:
    try:
        text = table_path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}  # not readable here (sandbox, other OS): no evidence, no harm
    return parse_arp_table(text)


class NeighbourTable:
    """The kernel's table, read at most once every ``max_age`` seconds.

    Every probe of an accepted client checks its MAC: reading and parsing the whole
    table each time would turn a probe storm into a storm of /proc reads.  An address
    changes hands only when a DHCP lease ends, so a second's delay in noticing is nothing.
    """

    def __init__(
        self,
        table_path: Path = ARP_TABLE,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = table_path
        self._max_age = max_age
        self._clock = clock
        self._table: dict[str, str] = {}
        self._read_at: float | None = None

    def mac_of(self, ip: str, *, fresh: bool = False) -> str | None:
        """``fresh`` reads the table now: for the moment of accepting, which is rare."""
        now = self._clock()
        if fresh or self._read_at is None or now - self._read_at >= self._max_age:
            self._table = read_arp_table(self._path)
            self._read_at = now
        return self._table.get(ip)
