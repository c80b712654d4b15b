"""Process figures read from /proc: resident memory, wake-ups (context switches), CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def voluntary_switches(pid: int) -> int:
    """Sum over every thread: each is one sleep that ended in a wake-up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended between listing and reading
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used, every thread included.

    CPU time per request is the figure noise hurts least on a shared machine: another
    process taking a core lowers requests/s but not what each request costs.
    """
    # The command name (field 2) may hold spaces: count fields after its closing ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")
