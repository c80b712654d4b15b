"""Probe answers under load: the daemon's captive portal against a bare aiohttp 204.

    python bench/bench_captive.py [--quick] [--rounds 3] [--seconds 5]

Load: wrk, 100 connections, one thread, on loopback, bounded in time; the servers
alternate round by round so the machine's noise hits both alike.  Targets (issue 4):
>= 70 % of the bare handler's throughput, p99 <= 20 ms at 100 concurrent clients.
The per-client probe limit is raised for the run: all the load comes from one address.
Each round starts the daemon on a fresh data folder: acceptances survive restarts, so
a reused folder would answer "online" to the "before Enter" load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Load, wrk
from bench.procstat import cpu_seconds

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


def probe_status(port: int) -> int:
    """The status one probe gets now: 302 before Enter, 204 after (checked before each load)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PROBE[1]}", headers={"Host": PROBE[0]}
    )
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def expect(port: int, status: int) -> None:
    got = probe_status(port)
    if got != status:
        raise SystemExit(f"a probe got {got}, expected {status}: the bench measures the wrong path")


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


@dataclass(frozen=True)
class Run:
    load: Load
    cpu_us_per_request: float  # the server's user + system CPU time per answer


BARE, BEFORE, AFTER = "bare aiohttp 204", "portal (before Enter)", "portal (after Enter)"
# Not the target's reference: the same bare app on uvloop, the daemon's loop.  The
# portal's margin over BARE partly comes from the loop; this row shows how much.
BARE_UVLOOP = "bare 204 on uvloop (info)"


def measured(proc: subprocess.Popen[bytes], port: int, seconds: float) -> Run:
    cpu = cpu_seconds(proc.pid)
    load = wrk(f"http://127.0.0.1:{port}{PROBE[1]}", PROBE[0], duration=seconds)
    used = cpu_seconds(proc.pid) - cpu
    return Run(load, 1e6 * used / max(1, load.requests))


def bare_round(seconds: float, *flags: str) -> Run:
    port = free_port()
    bare = start([sys.executable, str(ROOT / "bench" / "bare_204.py"), str(port), *flags], port)
    try:
        return measured(bare, port, seconds)
    finally:
        bare.terminate()
        bare.wait(timeout=10)


def portal_round(seconds: float) -> tuple[Run, Run]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="mp-bench-captive-"))
    daemon = start([sys.executable, "-m", "meshportal", "serve", "--data", str(data),
                    "--port", str(port), "--probe-rate", "1000000000"], port)  # fmt: skip
    try:
        expect(port, 302)
        before = measured(daemon, port, seconds)
        accept(port)
        expect(port, 204)
        return before, measured(daemon, port, seconds)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short CI-sized run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rounds, seconds = (1, 2.0) if args.quick else (args.rounds, args.seconds)
    runs: dict[str, list[Run]] = {BARE: [], BEFORE: [], AFTER: [], BARE_UVLOOP: []}
    for number in range(rounds):
        # Who goes first alternates, so a drift in the machine's load favours no one.
        if number % 2 == 0:
            runs[BARE].append(bare_round(seconds))
        before, after = portal_round(seconds)
        runs[BEFORE].append(before)
        runs[AFTER].append(after)
        if number % 2 == 1:
            runs[BARE].append(bare_round(seconds))
        runs[BARE_UVLOOP].append(bare_round(seconds, "--uvloop"))
        time.sleep(0.5)

    rows = []
    by_name = {}
    for name, found in runs.items():
        # Ratios pair each round with the bare run of the same round, then take the median.
        pairs = zip(found, runs[BARE], strict=True)
        ratios = [a.load.requests_per_s / b.load.requests_per_s for a, b in pairs]
        rows.append({
            "server": name,
            "requests_per_s": round(statistics.median(r.load.requests_per_s for r in found)),
            "p50_ms": round(statistics.median(r.load.p50_ms for r in found), 2),
            "p99_ms": round(statistics.median(r.load.p99_ms for r in found), 2),
            "ratio_to_bare": round(statistics.median(ratios), 3),
            "cpu_us_per_request": round(statistics.median(r.cpu_us_per_request for r in found), 1),
            "errors": sum(r.load.non_2xx_3xx for r in found),
            "per_round_requests_per_s": [round(r.load.requests_per_s) for r in found],
        })  # fmt: skip
        by_name[name] = rows[-1]
    before_row, after_row = by_name[BEFORE], by_name[AFTER]
    # The headline is the slower of the two portal paths: both must hold the target.
    summary = {
        "captive.probes_per_s": min(before_row["requests_per_s"], after_row["requests_per_s"]),
        "captive.probe_ratio_before_enter": before_row["ratio_to_bare"],
        "captive.probe_ratio_after_enter": after_row["ratio_to_bare"],
        "captive.probe_p99_ms_before_enter": before_row["p99_ms"],
        "captive.probe_p99_ms_after_enter": after_row["p99_ms"],
        "captive.probe_cpu_us_after_enter": after_row["cpu_us_per_request"],
        "captive.bare_204_per_s": by_name[BARE]["requests_per_s"],
        "captive.probe_ratio_after_enter_vs_uvloop": round(
            statistics.median(
                a.load.requests_per_s / b.load.requests_per_s
                for a, b in zip(runs[AFTER], runs[BARE_UVLOOP], strict=True)
            ),
            3,
        ),
    }
    print(f"{'server':<27}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x bare':>8}{'CPU us/req':>12}")
    for row in rows:
        print(
            f"{row['server']:<27}{row['requests_per_s']:>9}{row['p50_ms']:>9}"
            f"{row['p99_ms']:>9}{row['ratio_to_bare']:>8}{row['cpu_us_per_request']:>12}"
        )
    print("targets: >= 0.70 x bare, p99 <= 20 ms at 100 connections")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_captive.json").write_text(json.dumps({
        "benchmark": "captive",
        "machine": {"arch": platform.machine(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "connections": 100, "seconds": seconds, "rounds": rounds, "rows": rows,
        "targets": {"ratio_min": 0.7, "p99_ms_max": 20}, "summary": summary,
    }, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
