"""Start-up benchmark: time to ready, idle RSS and idle wake-ups of the daemon,
side by side with a bare aiohttp hello-world started the same way, in the same run.

    python bench/bench_startup.py [--runs 5] [--idle-seconds 60] [--quick]

`--quick` (the convention of every suite, used by `python -m bench --quick` in CI)
means 2 runs and a 3 s idle window.

Both run from compiled bytecode, as on a box: pip compiles a package's modules when it
installs it (aiohttp's, which the reference uses, were), and a box never compiles them
again.  A development tree may have none (a fresh checkout, PYTHONDONTWRITEBYTECODE=1),
and compiling meshportal, captive and sync from source at each start cost ~0.14 s of CPU and
~1.1 MiB more than any installed box pays: they are compiled once, untimed, before the runs.

Targets (issue 2): idle RSS <= 45 MB; time to ready <= 1.5x the hello-world;
no periodic work more often than once a second when idle (wake-ups over the
idle window / its length <= 1 per second, beyond the reference's own).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import rss_mib, voluntary_switches

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.005)
    raise TimeoutError("server did not answer in time")


def command(kind: str, port: int, data: Path) -> list[str]:
    if kind == "meshportal":
        return [
            sys.executable,
            "-m",
            "meshportal",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
        ]
    return [sys.executable, str(ROOT / "bench" / "hello_aiohttp.py"), str(port)]


def one_start(kind: str, data: Path) -> tuple[float, subprocess.Popen[bytes]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    began = time.monotonic()
    proc = subprocess.Popen(
        command(kind, port, data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    wait_http(port, began + 30)
    return time.monotonic() - began, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="short CI-sized run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.idle_seconds = 2, 3.0
    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    # into the tree's __pycache__ folders (git ignores them), where the imports look
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "meshportal", "captive", "sync"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    data = workdir / "data"
    subprocess.run(
        [sys.executable, "-m", "meshportal", "init", "--data", str(data)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    kinds = ("meshportal", "aiohttp hello-world")
    ready: dict[str, list[float]] = {k: [] for k in kinds}
    rss: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.runs):
        for kind in kinds:  # interleaved, so noise hits both alike
            seconds, proc = one_start(kind, data)
            time.sleep(1.0)  # let start-up work settle before reading memory
            ready[kind].append(seconds)
            rss[kind].append(rss_mib(proc.pid))
            stop(proc)

    wakeups: dict[str, float] = {}
    for kind in kinds:
        _, proc = one_start(kind, data)
        time.sleep(2.0)
        before = voluntary_switches(proc.pid)
        time.sleep(args.idle_seconds)
        wakeups[kind] = (voluntary_switches(proc.pid) - before) / args.idle_seconds
        stop(proc)

    rows = []
    for kind in kinds:
        rows.append(
            {
                "server": kind,
                "ready_ms_median": round(statistics.median(ready[kind]) * 1000, 1),
                "idle_rss_mib_median": round(statistics.median(rss[kind]), 1),
                "idle_wakeups_per_s": round(wakeups[kind], 2),
            }
        )
    ratio = rows[0]["ready_ms_median"] / rows[1]["ready_ms_median"]
    print(f"{'server':<22}{'ready (ms)':>12}{'idle RSS (MiB)':>16}{'wake-ups/s':>12}")
    for row in rows:
        print(
            f"{row['server']:<22}{row['ready_ms_median']:>12}{row['idle_rss_mib_median']:>16}"
            f"{row['idle_wakeups_per_s']:>12}"
        )
    print(
        f"time to ready ratio: {ratio:.2f}x (target <= 1.5x); "
        f"idle RSS {rows[0]['idle_rss_mib_median']} MiB (target <= 45)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "startup",
        "machine": {
            "arch": platform.machine(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "runs": args.runs,
        "idle_seconds": args.idle_seconds,
        "rows": rows,
        "ready_ratio": round(ratio, 3),
        "targets": {"ready_ratio_max": 1.5, "idle_rss_mib_max": 45, "wakeups_per_s_max": 1},
        # Keys read by `python -m bench` (see bench/report_keys.md).
        "summary": {
            "startup.ready_ms": rows[0]["ready_ms_median"],
            "startup.ready_ratio": round(ratio, 3),
            "startup.idle_rss_mib": rows[0]["idle_rss_mib_median"],
        },
    }
    (RESULTS / "bench_startup.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
