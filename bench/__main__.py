"""Run every benchmark suite in bench/: `python -m bench [--quick]`.

Each suite is a script `bench/bench_*.py` that prints its table and writes
`bench/results/<name>.json`; they run one after the other, never at the same time,
so they do not disturb each other's figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    failed = []
    for suite in sorted(HERE.glob("bench_*.py")):
        print(f"\n== {suite.stem}", flush=True)
        done = subprocess.run([sys.executable, str(suite), *argv], check=False)
        if done.returncode != 0:
            failed.append(suite.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
