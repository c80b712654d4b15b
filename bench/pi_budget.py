"""Pi budget: instructions per operation of the hot paths (valgrind callgrind),
turned into per-board estimates with a stated clock and IPC. See bench/README.md.

    python bench/pi_budget.py [--quick] [--no-callgrind]

Method: each workload is a Python callable `setup() -> op`; `op()` does one
operation. callgrind runs a fresh interpreter twice, doing N and 2N operations;
(Ir(2N) - Ir(N)) / N is the instruction count of one operation with start-up and
setup cancelled out. Estimated ops/s on a board = clock * IPC / instructions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

# (clock GHz, assumed IPC on CPython's interpreter loop). Clocks: Raspberry Pi
# product briefs. IPC: see bench/README.md for sources and why it is conservative.
BOARDS: dict[str, tuple[float, float]] = {
    "Pi 4 (Cortex-A72, 1.5 GHz)": (1.5, 1.0),
    "Pi 4 (Cortex-A72, 1.8 GHz)": (1.8, 1.0),
    "Pi 5 (Cortex-A76, 2.4 GHz)": (2.4, 1.6),
    "Pi Zero 2 W (Cortex-A53, 1 GHz)": (1.0, 0.6),
}


def _markdown_page() -> Callable[[], object]:
    import nh3
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    text = "# Leçon\n\n" + "Un paragraphe *accentué* : été, où, ça. [lien](/x)\n\n" * 40
    return lambda: nh3.clean(md.render(text))


def _msgpack_change() -> Callable[[], object]:
    import msgpack

    change = {
        "o": b"k" * 32,
        "s": 42,
        "d": [[b"a" * 32, 7]],
        "t": 1_700_000_000_000,
        "ops": [["ins", "page/accueil", 120, "du texte ajouté"]] * 5,
    }
    blob = msgpack.packb(change)
    return lambda: msgpack.unpackb(msgpack.packb(msgpack.unpackb(blob)))


def _ed25519_verify() -> Callable[[], object]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    sig = key.sign(b"head")
    pub = key.public_key()
    return lambda: pub.verify(sig, b"head")


def _sync_hook(name: str) -> Callable[[], object]:
    # Hooks for the sync hot paths: filled in once sync/ exposes its replica API on main.
    raise NotImplementedError(f"sync hot path {name!r}: sync/ has no replica API on this branch")


WORKLOADS: dict[str, Callable[[], Callable[[], object]]] = {
    "page render (markdown-it + nh3, 40 paragraphs)": _markdown_page,
    "change codec (msgpack pack+unpack, 5 ops)": _msgpack_change,
    "signed head check (Ed25519 verify)": _ed25519_verify,
    "sync: apply remote change": lambda: _sync_hook("apply remote change"),
    "sync: local text insert": lambda: _sync_hook("local text insert"),
}


def _child(name: str, count: int) -> None:
    op = WORKLOADS[name]()
    for _ in range(count):
        op()


def instructions(name: str, count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                name,
                str(count),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        match = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.M)
        if not match:
            raise RuntimeError("callgrind wrote no instruction total")
        return int(match.group(1))


def wall_per_op(op: Callable[[], object], seconds: float) -> float:
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        op()
        done += 1
    return (time.perf_counter() - began) / done


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-callgrind", action="store_true", help="wall time only")
    parser.add_argument("--out", type=Path, default=RESULTS / "pi_budget.json")
    args = parser.parse_args()
    n = 20 if args.quick else 200
    rows = []
    for name, setup in WORKLOADS.items():
        try:
            op = setup()
        except NotImplementedError as exc:
            rows.append({"workload": name, "skipped": str(exc)})
            print(f"{name}: not measured yet ({exc})")
            continue
        row: dict[str, object] = {"workload": name, "host_us": wall_per_op(op, 0.5) * 1e6}
        if not args.no_callgrind:
            per_op = (instructions(name, 2 * n) - instructions(name, n)) / n
            row["instructions"] = round(per_op)
            row["boards_ops_per_s"] = {
                b: round(ghz * 1e9 * ipc / per_op) for b, (ghz, ipc) in BOARDS.items()
            }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "pi_budget", "boards": BOARDS, "quick": args.quick, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
