"""Portal benchmark: visitors' page views/s of a lesson page, side by side with a bare
aiohttp 204 in the same run, and wiki saves/s (one durable save = one edit + one commit).

    python bench/bench_portal.py [--rounds 3] [--seconds 5] [--quick]

Page views: the daemon (`meshportal serve`, captive on, as shipped) serves a lesson page
(Markdown rendered per request, as the code does today); wrk loads it from loopback with
50 connections, rounds interleaved with the bare reference, medians reported.
Wiki saves: there is no wiki HTTP form yet, so a save is what the form will do: an edit
of a 2 kB page through sync's Replica and one durable SyncStore commit (SQLite WAL,
synchronous=FULL, as the daemon opens it). Results: bench/results/bench_portal.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_startup import free_port, wait_http
from bench.loadgen import wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LESSON = "/lecons/bienvenue/une-boite-locale"
PAGE_VIEWS_TARGET_PI4 = 300  # issue 7, estimated for a Pi 4 in bench/README.md


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    wait_http(port, time.monotonic() + 30)
    return proc


def page_views(rounds: int, seconds: float, workdir: Path) -> dict[str, Any]:
    data = workdir / "data"
    subprocess.run(
        [sys.executable, "-m", "meshportal", "init", "--data", str(data)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    mp_port, ref_port = free_port(), free_port()
    servers = [
        start(
            [
                sys.executable,
                "-m",
                "meshportal",
                "serve",
                "--data",
                str(data),
                "--port",
                str(mp_port),
            ],
            mp_port,
        ),
        start([sys.executable, str(ROOT / "bench" / "bare_204.py"), str(ref_port)], ref_port),
    ]
    targets = {
        "lesson page": f"http://127.0.0.1:{mp_port}{LESSON}",
        "bare aiohttp 204": f"http://127.0.0.1:{ref_port}/generate_204",
    }
    runs: dict[str, list[Any]] = {name: [] for name in targets}
    try:
        for _ in range(rounds):
            for name, url in targets.items():  # interleaved: noise hits both alike
                runs[name].append(wrk(url, "localhost", connections=50, duration=seconds))
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=20)
    rows = {}
    for name, loads in runs.items():
        bad = sum(load.non_2xx_3xx for load in loads)
        if bad:
            raise SystemExit(f"{name}: {bad} answers were not 2xx/3xx")
        rows[name] = {
            "requests_per_s": round(statistics.median(x.requests_per_s for x in loads)),
            "p50_ms": round(statistics.median(x.p50_ms for x in loads), 2),
            "p99_ms": round(statistics.median(x.p99_ms for x in loads), 2),
        }
    return rows


async def _wiki_saves(path: Path, seconds: float, limit: int) -> dict[str, float]:
    import aiosqlite

    from sync.identity import Identity
    from sync.schema import MIGRATIONS
    from sync.store import SyncStore

    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=FULL")
    for sql in MIGRATIONS:
        await conn.executescript(sql)
    store = SyncStore(conn)
    replica = await store.async_load(Identity.from_private_bytes(bytes([7]) * 32))
    rng = random.Random(7)
    pages = [f"wiki/page-{i}" for i in range(50)]
    for name in pages:  # each page starts at about 2 kB, committed once
        replica.insert_text(name, 0, "Une phrase du wiki, avec des accents : été, ça. " * 40)
    await store.async_commit(replica)
    saves, began = 0, time.perf_counter()
    while saves < limit and time.perf_counter() - began < seconds:
        name = rng.choice(pages)
        pos = rng.randint(0, len(replica.text(name)))
        replica.splice_text(name, pos, 0, "ajout d'une élève ")
        await store.async_commit(replica)
        saves += 1
    elapsed = time.perf_counter() - began
    await conn.close()
    return {"saves": float(saves), "seconds": elapsed, "saves_per_s": saves / elapsed}


def wiki_saves(rounds: int, seconds: float, workdir: Path) -> dict[str, float]:
    found = [
        asyncio.run(_wiki_saves(workdir / f"wiki-{n}.db", seconds, limit=100_000))
        for n in range(rounds)
    ]
    return {
        "saves_per_s": round(statistics.median(x["saves_per_s"] for x in found), 1),
        "saves": sum(x["saves"] for x in found),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="short CI-sized run")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-portal-"))
    views = page_views(args.rounds, args.seconds, workdir)
    wiki = wiki_saves(args.rounds, args.seconds, workdir)
    lesson, bare = views["lesson page"], views["bare aiohttp 204"]
    ratio = lesson["requests_per_s"] / bare["requests_per_s"]
    print(f"{'workload':<28}{'per s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in views.items():
        print(f"{name:<28}{row['requests_per_s']:>10,}{row['p50_ms']:>10}{row['p99_ms']:>10}")
    print(f"{'wiki save (edit + commit)':<28}{wiki['saves_per_s']:>10,.0f}")
    print(f"lesson page / bare 204 = {ratio:.2f}; medians of {args.rounds} interleaved rounds")
    result = {
        "benchmark": "portal",
        "machine": {
            "arch": platform.machine(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "rounds": args.rounds,
        "seconds": args.seconds,
        "quick": args.quick,
        "page_views": views,
        "lesson_to_bare_ratio": round(ratio, 3),
        "wiki_saves": wiki,
        "summary": {
            "portal.page_views_per_s": float(lesson["requests_per_s"]),
            "wiki.saves_per_s": float(wiki["saves_per_s"]),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_portal.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
