"""Probe answers under load: the daemon's captive portal against a bare aiohttp 204.

    python bench/bench_captive.py [--quick] [--rounds 3] [--seconds 5]

Load: wrk, 100 connections, one thread, on loopback, bounded in time; the servers
alternate round by round so the machine's noise hits both alike.  Targets (issue 4):
>= 70 % of the bare handler's throughput, p99 <= 20 ms at 100 concurrent clients.
The per-client probe limit is raised for the run: all the load comes from one address.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Load, wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PROBE = ("connectivitycheck.gstatic.com", "/generate_204")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=ROOT)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{argv[:3]} did not start")


def accept(port: int) -> None:
    """Tap Enter as 127.0.0.1, so probes get the "online" answer."""
    opener = urllib.request.build_opener()
    page = (
        opener.open(
            urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": "booture.lan"})
        )
        .read()
        .decode()
    )
    token = re.search(r'name="jeton" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    data = urllib.parse.urlencode({"jeton": token}).encode()
    opener.open(
        urllib.request.Request(
            f"http://127.0.0.1:{port}/captive/enter", data=data, headers={"Host": "booture.lan"}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short CI-sized run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rounds, seconds = (1, 2.0) if args.quick else (args.rounds, args.seconds)
    data = Path(tempfile.mkdtemp(prefix="mp-bench-captive-"))
    runs: dict[str, list[Load]] = {"bare aiohttp 204": [], "portal (before Enter)": [],
                                   "portal (after Enter)": []}  # fmt: skip
    for _ in range(rounds):
        port = free_port()
        bare = start([sys.executable, str(ROOT / "bench" / "bare_204.py"), str(port)], port)
        try:
            runs["bare aiohttp 204"].append(
                wrk(f"http://127.0.0.1:{port}{PROBE[1]}", PROBE[0], duration=seconds)
            )
        finally:
            bare.terminate()
            bare.wait(timeout=10)
        port = free_port()
        daemon = start([sys.executable, "-m", "meshportal", "serve", "--data", str(data),
                        "--port", str(port), "--probe-rate", "1000000000"], port)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}{PROBE[1]}"
            runs["portal (before Enter)"].append(wrk(url, PROBE[0], duration=seconds))
            accept(port)
            runs["portal (after Enter)"].append(wrk(url, PROBE[0], duration=seconds))
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
        time.sleep(0.5)
        (data / "meshportal.lock").unlink(missing_ok=True)

    bare_rps = statistics.median(r.requests_per_s for r in runs["bare aiohttp 204"])
    rows = []
    for name, loads in runs.items():
        rps = statistics.median(r.requests_per_s for r in loads)
        rows.append({
            "server": name,
            "requests_per_s": round(rps),
            "p50_ms": round(statistics.median(r.p50_ms for r in loads), 2),
            "p99_ms": round(statistics.median(r.p99_ms for r in loads), 2),
            "ratio_to_bare": round(rps / bare_rps, 3),
            "errors": sum(r.non_2xx_3xx for r in loads),
        })  # fmt: skip
    print(f"{'server':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x bare':>8}")
    for row in rows:
        print(
            f"{row['server']:<24}{row['requests_per_s']:>9}{row['p50_ms']:>9}"
            f"{row['p99_ms']:>9}{row['ratio_to_bare']:>8}"
        )
    print("targets: >= 0.70 x bare, p99 <= 20 ms at 100 connections")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_captive.json").write_text(json.dumps({
        "benchmark": "captive",
        "machine": {"arch": platform.machine(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "connections": 100, "seconds": seconds, "rounds": rounds, "rows": rows,
        "targets": {"ratio_min": 0.7, "p99_ms_max": 20},
    }, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
