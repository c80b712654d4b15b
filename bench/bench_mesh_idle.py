"""Idle cost of the mesh: 3 daemons in network namespaces, discovery on vs off, same run.

    sudo python bench/bench_mesh_idle.py [--idle-seconds 30]

The reference is the same daemon with ``--discovery false`` (no zeroconf,
sync port still open), so the difference is what mDNS costs.  Each box is
started once first so its identity and certificate exist: what is measured
is the steady state of a box after its first boot.  Default timers (TTL
120 s, interface check 5 s).  Targets: idle RSS <= 45 MB per daemon; fewer
than one wake-up per second beyond the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import rss_mib, voluntary_switches
from tests.mesh.lab import Lab, skip_reason  # the namespace lab is shared with the tests

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_TIMERS = ("--mdns-ttl", "120", "--interface-check", "5")


def measure(discovery: bool, idle: float) -> dict[str, float]:
    lab = Lab(Path(tempfile.mkdtemp(prefix="bench-mesh-")))
    extra = (*DEFAULT_TIMERS, "--discovery", "true" if discovery else "false")
    try:
        boxes = [lab.host(i) for i in (1, 2, 3)]
        for box in boxes:
            lab.start(box, None, *extra)
        for box in boxes:
            box.stop()
        for box in boxes:
            lab.start(box, None, *extra)
        time.sleep(8)  # discovery settles (probing, first answers)
        pids = [box.process.pid for box in boxes if box.process]
        before = [voluntary_switches(pid) for pid in pids]
        time.sleep(idle)
        wakeups = [(voluntary_switches(p) - b) / idle for p, b in zip(pids, before, strict=True)]
        seen = [len(box.peers()) for box in boxes]
        return {
            "rss_mib": statistics.median(rss_mib(pid) for pid in pids),
            "wakeups_per_s": statistics.median(wakeups),
            "peers_seen": min(seen),
        }
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--quick", action="store_true", help="a 5 s idle window")
    args = parser.parse_args()
    if args.quick:
        args.idle_seconds = 5.0
    reason = skip_reason()
    if reason:
        # network namespaces need root (CI runners without sudo): say so, fail nothing
        print(f"bench_mesh_idle: not run: {reason}", file=sys.stderr)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_mesh_idle.json").write_text(
            json.dumps({"summary": {}, "not_measured": {"mesh.idle_rss_mib": reason}}, indent=2)
            + "\n"
        )
        return
    off = measure(False, args.idle_seconds)
    on = measure(True, args.idle_seconds)
    print(f"{'':24}{'discovery off (ref)':>22}{'discovery on':>16}{'ratio':>8}")
    for key in ("rss_mib", "wakeups_per_s", "peers_seen"):
        ratio = on[key] / off[key] if off[key] else float("nan")
        print(f"{key:24}{off[key]:>22.2f}{on[key]:>16.2f}{ratio:>8.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_mesh_idle.json").write_text(
        json.dumps(
            {
                "idle_seconds": args.idle_seconds,
                "off": off,
                "on": on,
                "summary": {
                    "mesh.idle_rss_mib": round(on["rss_mib"], 1),
                    "mesh.idle_wakeups_per_s": round(on["wakeups_per_s"], 2),
                },
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
