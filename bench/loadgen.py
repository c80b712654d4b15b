"""Bounded HTTP load on loopback with wrk (Debian's package): requests/s, p50, p99.

Every run is bounded in time (``duration``) and talks only to 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    requests: int  # answered in the run, for the server's CPU time per request


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, host: str, connections: int = 100, duration: float = 5.0) -> Load:
    tool = shutil.which("wrk")
    if tool is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit("load is only ever sent to loopback")
    out = subprocess.run(
        [tool, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s", "--latency",
         "-H", f"Host: {host}", url],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout  # fmt: skip
    rps_m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50_m = re.search(r"^\s+50%\s+(\S+)\s*$", out, re.M)
    p99_m = re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M)
    if not (rps_m and p50_m and p99_m):
        raise RuntimeError(f"wrk printed no figures for {url}:\n{out}")
    rps, p50, p99 = float(rps_m.group(1)), _ms(p50_m.group(1)), _ms(p99_m.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99, int(bad.group(1)) if bad else 0, done)
