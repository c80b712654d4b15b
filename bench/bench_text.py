"""The text CRDT alone, side by side with plain str, pycrdt (Yrs) and loro, in one run.

    python bench/bench_text.py [--quick] [--runs 3] [--trace automerge-paper]

Each engine replays the trace, one transaction per patch, in its own subprocess so its
peak memory is its own.  Reported: time (median of runs), time per patch in the first
and last tenth of the trace (a flat cost means no slowdown as the document grows), peak
RSS growth, encoded state size, and the time to load that state into an empty document.
Also: `TextDoc.local_replace` on a 100 KB page, a small and a large edit.
The whole-engine figures (changes, signatures, SQLite) are in bench_sync.py.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
ENGINES = ("str", "meshportal", "pycrdt", "loro")


def shared_traces() -> Path:
    env = os.environ.get("MESHPORTAL_SHARED")
    base = Path(env) if env else ROOT / ".." / "shared"
    if not (base / "traces").is_dir():
        raise SystemExit("shared/traces not found: set MESHPORTAL_SHARED to the shared folder")
    return base / "traces"


def load_patches(trace: str, quick: bool) -> tuple[str, list[tuple[int, int, str]], str]:
    with gzip.open(shared_traces() / f"{trace}.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    patches = [tuple(p) for txn in data["txns"] for p in txn["patches"]]
    end = data["endContent"]
    if quick:
        patches = patches[: len(patches) // 10]
        end = ""
    return data["startContent"], patches, end  # type: ignore[return-value]


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def replay(engine: str, start: str, patches: list[tuple[int, int, str]]) -> dict[str, Any]:
    """Runs inside the engine's own subprocess."""
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    base_now = _rss_kib()
    tenth = max(1, len(patches) // 10)
    marks: list[float] = []
    began = time.perf_counter()
    encoded: bytes | None = None
    load_s: float | None = None
    text: str
    if engine == "str":
        doc = start
        for k, (pos, dele, ins) in enumerate(patches):
            if k % tenth == 0:
                marks.append(time.perf_counter())
            doc = doc[:pos] + ins + doc[pos + dele :]
        text = doc
    elif engine == "meshportal":
        from sync.text import TextDoc

        tdoc = TextDoc()
        if start:
            tdoc.local_insert("A", 0, start)
        for k, (pos, dele, ins) in enumerate(patches):
            if k % tenth == 0:
                marks.append(time.perf_counter())
            if dele:
                tdoc.local_delete("A", pos, dele)
            if ins:
                tdoc.local_insert("A", pos, ins)
        text = tdoc.value()
        encoded = tdoc.encode_state()
        t = time.perf_counter()
        TextDoc.decode_state(encoded).value()
        load_s = time.perf_counter() - t
    elif engine == "pycrdt":
        from pycrdt import Doc, Text

        ydoc: Any = Doc()
        ydoc["t"] = ytext = Text(start)
        for k, (pos, dele, ins) in enumerate(patches):
            if k % tenth == 0:
                marks.append(time.perf_counter())
            with ydoc.transaction():
                if dele:
                    del ytext[pos : pos + dele]
                if ins:
                    ytext.insert(pos, ins)
        text = str(ytext)
        encoded = ydoc.get_update()
        t = time.perf_counter()
        fresh: Any = Doc()
        fresh["t"] = loaded = Text()
        fresh.apply_update(encoded)
        str(loaded)
        load_s = time.perf_counter() - t
    else:
        import loro

        ldoc = loro.LoroDoc()
        ltext = ldoc.get_text("t")
        if start:
            ltext.insert(0, start)
            ldoc.commit()
        for k, (pos, dele, ins) in enumerate(patches):
            if k % tenth == 0:
                marks.append(time.perf_counter())
            if dele:
                ltext.delete(pos, dele)
            if ins:
                ltext.insert(pos, ins)
            ldoc.commit()
        text = ltext.to_string()
        encoded = ldoc.export(loro.ExportMode.Snapshot())
        t = time.perf_counter()
        other = loro.LoroDoc()
        other.import_(encoded)
        other.get_text("t").to_string()
        load_s = time.perf_counter() - t
    total = time.perf_counter() - began
    marks.append(began + total)
    per_tenth = [(b - a) / tenth * 1e6 for a, b in pairwise(marks)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    held = _rss_kib() - base_now
    return {
        "seconds": total,
        "us_per_patch_first_tenth": per_tenth[0],
        "us_per_patch_last_tenth": per_tenth[-2] if len(per_tenth) > 1 else per_tenth[0],
        "peak_rss_growth_mib": (peak - base_rss) / 1024,
        "held_rss_mib": held / 1024,  # what the final document and its history keep
        "encoded_bytes": len(encoded) if encoded is not None else None,
        "load_ms": load_s * 1000 if load_s is not None else None,
        "text_len": len(text),
        "text": text if len(patches) < 1000 else None,
        "ok": None,
    }


def child(engine: str, trace: str, quick: bool) -> None:
    start, patches, end = load_patches(trace, quick)
    result = replay(engine, start, patches)
    result["ok"] = (result["text_len"] == len(end)) if end else None
    result.pop("text")
    print(json.dumps(result))


def replace_bench() -> dict[str, float]:
    from sync.text import TextDoc

    lines = [f"Ligne {i} : une phrase de wiki, avec des accents éàù et 🌍.\n" for i in range(1700)]
    page = "".join(lines)
    small = page.replace("Ligne 850 :", "Ligne 850 (modifiée) :", 1)
    large = "".join(lines[::-1][:900]) + "Nouveau texte.\n" * 50
    out: dict[str, float] = {"page_chars": float(len(page))}
    for name, new in (("small_edit", small), ("large_edit", large)):
        times = []
        for _ in range(5):
            doc = TextDoc()
            doc.local_insert("A", 0, page)
            began = time.perf_counter()
            doc.local_replace("A", new)
            times.append((time.perf_counter() - began) * 1000)
            assert doc.value() == new
        out[f"{name}_ms"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trace", default="automerge-paper")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trace, args.quick)
        return
    try:
        shared_traces()
    except SystemExit as missing:
        # The editing traces live in shared/, outside the repository (GitHub's runners do
        # not have them): say what was not measured and why, and fail nothing.
        print(f"bench_text: not run: {missing}", file=sys.stderr)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench_text.json").write_text(json.dumps({
            "summary": {}, "benchmark": "text", "quick": args.quick,
            "not_measured": {key: "shared/traces absent on this machine"
                             for key in ("sync.trace_replay_s", "sync.history_load_ms")},
        }, indent=2) + "\n")  # fmt: skip
        return
    runs = 1 if args.quick else args.runs
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    for _ in range(runs):
        for engine in ENGINES:  # interleaved: noise hits every engine alike
            cmd = [sys.executable, __file__, "--child", engine, "--trace", args.trace]
            out = subprocess.run(cmd + (["--quick"] if args.quick else []), capture_output=True,
                                 text=True, check=True, cwd=ROOT)  # fmt: skip
            results[engine].append(json.loads(out.stdout))
    rows = []
    str_s = statistics.median(r["seconds"] for r in results["str"])
    for engine, runs_ in results.items():

        def med(key: str, runs_: list[dict[str, Any]] = runs_) -> float | None:
            values = [r[key] for r in runs_ if r[key] is not None]
            return statistics.median(values) if values else None

        seconds = med("seconds") or 0.0
        rows.append({
            "engine": engine, "seconds": round(seconds, 3),
            "ratio_to_str": round(seconds / str_s, 2),
            "us_first_tenth": round(med("us_per_patch_first_tenth") or 0, 2),
            "us_last_tenth": round(med("us_per_patch_last_tenth") or 0, 2),
            "peak_rss_growth_mib": round(med("peak_rss_growth_mib") or 0, 1),
            "held_rss_mib": round(med("held_rss_mib") or 0, 1),
            "encoded_bytes": med("encoded_bytes"), "load_ms": med("load_ms"),
            "correct": all(r["ok"] is not False for r in runs_),
        })  # fmt: skip
    print(f"trace {args.trace}, one transaction per patch, median of {runs}")
    header = f"{'engine':<12}{'s':>8}{'x str':>7}{'us/op 1st':>10}{'us/op last':>11}"
    print(header + f"{'peak MiB':>9}{'held MiB':>9}{'bytes':>10}{'load ms':>9}")
    for r in rows:
        enc = r["encoded_bytes"]
        load = r["load_ms"]
        print(
            f"{r['engine']:<12}{r['seconds']:>8}{r['ratio_to_str']:>7}{r['us_first_tenth']:>10}"
            f"{r['us_last_tenth']:>11}{r['peak_rss_growth_mib']:>9}{r['held_rss_mib']:>9}"
            f"{int(enc) if enc else '-':>10}{round(load, 1) if load else '-':>9}"
        )
    replace = replace_bench()
    print(
        f"local_replace on a {int(replace['page_chars'] / 1000)} K-char page: small edit "
        f"{replace['small_edit_ms']:.1f} ms, large edit {replace['large_edit_ms']:.1f} ms"
    )
    ours = next(r for r in rows if r["engine"] == "meshportal")
    summary = {"sync.trace_replay_s": ours["seconds"]}
    if ours["load_ms"] is not None:
        summary["sync.history_load_ms"] = round(ours["load_ms"], 1)
    if args.quick:  # a tenth of the trace: not the figure the key names
        summary = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_text.json").write_text(json.dumps({
        "summary": summary,
        "benchmark": "text", "trace": args.trace, "runs": runs, "quick": args.quick,
        "machine": {"arch": platform.machine(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "rows": rows, "replace": replace,
    }, indent=2) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
