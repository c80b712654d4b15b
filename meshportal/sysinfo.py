"""Facts about this machine, read from /proc and the filesystem without any traffic."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (ours by default), from /proc."""
    status = Path(f"/proc/{pid or 'self'}/status")
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def free_disk_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def has_default_route(route_table: Path = Path("/proc/net/route")) -> bool:
    """Whether any route leads off the box.  Reading it sends nothing anywhere.

    An offline box has none, and that is its normal state, not a fault.
    """
    try:
        lines = route_table.read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return True
    ipv6 = Path("/proc/net/ipv6_route")
    try:
        for line in ipv6.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
                return True
    except (OSError, IndexError):
        pass
    return False


def file_size(path: Path) -> int:
    """Size of a database with its WAL, which holds recent commits too."""
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            total += os.stat(candidate).st_size
    return total
