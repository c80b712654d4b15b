"""One entry point for every benchmark suite: `python -m bench [--quick]`.

Runs each bench/bench_*.py as a subprocess (with `--quick` when asked), reads the
JSON each writes to bench/results/ (bench_X.py writes bench_X.json, or X.json as
bench_portal.py writes portal.json), and writes bench/results/report.json and report.md. `--compare bench/baseline/<arch>.json --threshold 0.25` exits 1 when
a figure regressed past the threshold. See bench/README.md and bench/report_keys.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine, markdown, merged_summary, missing_reasons, regressions

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"


def result_names(script: Path) -> list[str]:
    """The results files a suite may write: bench_X.py writes bench_X.json or X.json
    (bench_portal.py writes portal.json). The first name is the default."""
    return [script.stem, script.stem.removeprefix("bench_")]


def run_suite(script: Path, quick: bool, timeout: float) -> tuple[str, dict[str, Any]]:
    """Run one suite; return the name of the results file it wrote and its run record."""
    began = time.time()
    argv = [sys.executable, str(script)] + (["--quick"] if quick else [])
    print(f"== {script.stem}: {' '.join(argv[1:])}", flush=True)
    try:
        status = subprocess.run(argv, cwd=ROOT, timeout=timeout, check=False).returncode
        verdict = "ok" if status == 0 else f"failed (exit {status})"
    except subprocess.TimeoutExpired:
        verdict = f"timed out after {timeout:.0f} s"
    seconds = time.time() - began
    # A JSON older than this run is a stale result from another day: ignore it.
    written = [
        name
        for name in result_names(script)
        if (RESULTS / f"{name}.json").exists()
        and (RESULTS / f"{name}.json").stat().st_mtime >= began - 1
    ]
    name = written[0] if written else existing_name(script)
    if verdict == "ok" and not written:
        verdict = "wrote no JSON"
    return name, {"status": verdict, "seconds": seconds, "fresh": bool(written) and verdict == "ok"}


def existing_name(script: Path) -> str:
    """The results file a suite wrote on an earlier run, else the default name."""
    names = result_names(script)
    return next((n for n in reversed(names) if (RESULTS / f"{n}.json").exists()), names[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short CI-sized run of each suite")
    parser.add_argument("--only", action="append", default=[], help="suite name, e.g. startup")
    parser.add_argument("--no-run", action="store_true", help="only collect existing JSON")
    parser.add_argument("--timeout", type=float, default=1800, help="per suite, seconds")
    parser.add_argument("--compare", type=Path, help="baseline JSON (a report.json)")
    parser.add_argument("--threshold", type=float, default=0.25)
    parser.add_argument("--write-baseline", type=Path, help="copy the summary there")
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    runs: dict[str, dict[str, Any]] = {}
    suites: dict[str, dict[str, Any]] = {}
    for script in scripts:
        if args.no_run:
            name = existing_name(script)
            runs[name] = {"status": "not run", "seconds": 0.0, "fresh": True}
        else:
            name, runs[name] = run_suite(script, args.quick, args.timeout)
        path = RESULTS / f"{name}.json"
        if runs[name]["fresh"] and path.exists():
            suites[name] = json.loads(path.read_text())

    report = {
        "machine": machine(),
        "quick": args.quick,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "summary": merged_summary(suites),
        "not_measured": missing_reasons(suites, runs),
    }
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS / "report.md").write_text(text)
    print(text)
    if args.write_baseline:
        args.write_baseline.parent.mkdir(parents=True, exist_ok=True)
        args.write_baseline.write_text(json.dumps(report, indent=2) + "\n")

    failed = [name for name, run in runs.items() if not run["fresh"]]
    status = 1 if failed else 0
    if failed:
        print(f"suites without a fresh result: {', '.join(failed)}", file=sys.stderr)
    if args.compare:
        baseline = json.loads(args.compare.read_text())["summary"]
        found = regressions(baseline, report["summary"], args.threshold)
        for r in found:
            print(
                f"REGRESSION {r.name}: {r.baseline:g} -> {r.current:g} "
                f"({r.change:+.0%} worse, threshold {args.threshold:.0%})",
                file=sys.stderr,
            )
        if found:
            status = 1
        else:
            print(f"no regression past {args.threshold:.0%} against {args.compare}")
    return status


if __name__ == "__main__":
    sys.exit(main())
