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


def memory_bytes(
    proc_cgroup: Path = Path("/proc/self/cgroup"), cgroup_root: Path = Path("/sys/fs/cgroup")
) -> int:
    """The memory this process may use: the board's, or less where its cgroup caps it (the
    unit's MemoryHigh=, else MemoryMax=; cgroup v2, or v1's memory controller)."""
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return limit
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            folder = cgroup_root / path.lstrip("/")
            files = [folder / "memory.high", folder / "memory.max"]
        elif "memory" in controllers.split(","):
            files = [cgroup_root / "memory" / path.lstrip("/") / "memory.limit_in_bytes"]
        else:
            continue
        for file in files:
            with contextlib.suppress(OSError, ValueError):
                # "max" (v2) or a huge number (v1) mean no limit: int() or min() drops them
                limit = min(limit, int(file.read_text().strip()))
                break  # v2: memory.high first, the point where the kernel starts reclaiming
    return limit
