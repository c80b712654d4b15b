"""Initial sync of a wiki between two real daemons over loopback, with the real transport.

    python bench/bench_mesh_sync.py [--pages 10000] [--changes-per-page 10] [--quick]

The giver's replica is written offline (through ReplicaHost, as the daemon writes it):
N pages, each a body text edited `changes-per-page - 1` times plus a meta map key.  Then
both daemons start on 127.0.0.1 (discovery off: loopback), the taker is told the giver's
address and trusts it, and the clock runs until both announce the same version-vector
digest.  Reported: time, bytes of the conversation (sync + framing, without TLS records),
peak RSS of both daemons (VmHWM), the bytes against the zlib-compressed canonical changes
(target <= 1.3x), and the time against a plain TLS 1.3 copy of as many bytes over
loopback in this process (the reference, same run).  A second conversation between the
now-even daemons measures what peers already in sync exchange once connected (with
mDNS they do not connect at all: equal digests in the TXT records).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshportal import admin
from meshportal.identity import create_or_load
from meshportal.mesh import transport
from sync.chain import open_segment
from sync.codec import Limits, encode_change
from tests.conftest import Daemon, free_port, run_cli, start_daemon
from tests.mesh import offline

RESULTS = Path(__file__).resolve().parent / "results"
WORDS = [
    "la",
    "boîte",
    "partage",
    "le",
    "savoir",
    "du",
    "village",
    "avec",
    "ses",
    "voisins",
    "hors",
    "ligne",
    "et",
    "chacun",
    "peut",
    "écrire",
    "une",
    "page",
    "sur",
    "l'eau",
    "les",
    "semences",
    "la",
    "réparation",
    "des",
    "vélos",
    "ou",
    "l'école",
]


def page_text(i: int, length: int = 60) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(length)) + f" ({i})\n"


def build_giver(data: Path, pages: int, per_page: int) -> tuple[int, int, int]:
    """Write the wiki; returns (changes, segment bytes, zlib size of canonical changes)."""

    def write(replica: Any) -> None:
        for i in range(pages):
            name = f"wiki/page{i:05d}/body"
            replica.replace_text(name, page_text(i))
            replica.set_key(f"wiki/page{i:05d}/meta", "title", f"Page {i}")
            for k in range(per_page - 2):
                replica.insert_text(name, len(replica.text(name)), f" ajout {k}.")

    offline.edit(data, write)
    _origin, raws = offline.segments(data)
    limits = Limits()
    canonical = bytearray()
    changes = 0
    for raw in raws:
        for change in open_segment(raw, limits).changes:
            canonical += encode_change(change)
            changes += 1
    return changes, sum(len(r) for r in raws), len(zlib.compress(bytes(canonical), 6))


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def digest(daemon: Daemon) -> str:
    try:
        report = admin.ask(daemon.data / "admin.sock", {"cmd": "status"}, timeout=30)
    except admin.AdminUnavailable:
        return ""  # busy applying a batch (the event loop is not free): ask again
    return str(report["sections"]["mesh"]["digest"])


def peer_row(daemon: Daemon, node_id: str) -> dict[str, Any]:
    peers = admin.ask(daemon.data / "admin.sock", {"cmd": "peer.list"})["peers"]
    return next(p for p in peers if p["node_id"] == node_id)


async def plain_tls_copy(folder: Path, size: int) -> float:
    """Seconds to push `size` bytes over TLS 1.3 on loopback with asyncio: the reference."""
    folder.mkdir(parents=True, exist_ok=True)
    identity, _ = create_or_load(folder)
    endpoint = transport.Endpoint.for_data_dir(folder, identity)
    chunk = b"x" * (256 * 1024)
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        left = size
        while left > 0:
            writer.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
            await writer.drain()
        writer.close()
        done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=endpoint.server_context())
    port = server.sockets[0].getsockname()[1]
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=endpoint.client_context(), server_hostname=None
    )
    received = 0
    while received < size:
        data = await reader.read(1 << 20)
        if not data:
            break
        received += len(data)
    elapsed = time.perf_counter() - start
    writer.close()
    server.close()
    await done.wait()
    return elapsed


def one_round(root: Path, pages: int, per_page: int) -> dict[str, float]:
    giver_dir, taker_dir = root / "giver" / "data", root / "taker" / "data"
    for folder in (giver_dir, taker_dir):
        assert run_cli("init", "--data", str(folder)).returncode == 0
    giver_id = create_or_load(giver_dir)[0].node_id
    taker_id = create_or_load(taker_dir)[0].node_id
    built = time.perf_counter()
    changes, segment_bytes, zlib_bytes = build_giver(giver_dir, pages, per_page)
    build_s = time.perf_counter() - built
    assert run_cli("peer", "trust", taker_id, "--data", str(giver_dir)).returncode == 0
    giver_sync, taker_sync = free_port(), free_port()
    common = ("--host", "127.0.0.1", "--sync-interval", "3600", "--captive", "false")
    giver = start_daemon(giver_dir, None, *common, "--sync-port", str(giver_sync))
    taker = start_daemon(taker_dir, None, *common, "--sync-port", str(taker_sync))
    try:
        added = run_cli("peer", "add", f"127.0.0.1:{giver_sync}", "--data", str(taker_dir))
        assert added.returncode == 0, added.stderr
        target = digest(giver)
        start = time.perf_counter()
        assert run_cli("peer", "trust", giver_id, "--data", str(taker_dir)).returncode == 0
        while digest(taker) != target:
            assert time.perf_counter() - start < 600, "sync did not finish in 10 min"
            time.sleep(0.05)
        sync_s = time.perf_counter() - start
        time.sleep(0.5)  # the session's row is written when it ends
        row = peer_row(taker, giver_id)
        session_s = float(row["last"]["seconds"])  # the conversation alone, as the taker saw it
        wire = row["bytes_in"] + row["bytes_out"]
        # peers already even, once connected: kick one more conversation
        run_cli("peer", "trust", giver_id, "--data", str(taker_dir))
        time.sleep(1.0)
        again = peer_row(taker, giver_id)
        even_bytes = again["bytes_in"] + again["bytes_out"] - wire
        rss = (peak_rss_mib(giver.process.pid), peak_rss_mib(taker.process.pid))
    finally:
        giver.stop()
        taker.stop()
    copy_s = asyncio.run(plain_tls_copy(root / "reference", wire))
    return {
        "pages": pages,
        "changes": changes,
        "build_s": build_s,
        "sync_s": sync_s,
        "session_s": session_s,
        "wire_bytes": wire,
        "segment_bytes": segment_bytes,
        "zlib_changes_bytes": zlib_bytes,
        "wire_vs_zlib": wire / zlib_bytes,
        "plain_tls_copy_s": copy_s,
        "sync_vs_copy": sync_s / copy_s,
        "even_peers_bytes": even_bytes,
        "giver_peak_rss_mib": rss[0],
        "taker_peak_rss_mib": rss[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--changes-per-page", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1,000 pages, one round")
    args = parser.parse_args()
    pages = 1_000 if args.quick else args.pages
    rounds = [
        one_round(Path(tempfile.mkdtemp(prefix="bench-mesh-sync-")), pages, args.changes_per_page)
        for _ in range(args.rounds)
    ]
    med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"{'figure':<28}{'median':>14}")
    for key, value in med.items():
        print(f"{key:<28}{value:>14,.3f}")
    per_page = med["sync_s"] / pages
    summary = {
        # measured directly when --pages is 10,000; else scaled linearly (stated in "method")
        "sync.wiki_10k_sync_s": med["sync_s"] if pages == 10_000 else per_page * 10_000,
        "mesh.sync_wire_vs_zlib": med["wire_vs_zlib"],
        "mesh.sync_vs_plain_copy": med["sync_vs_copy"],
        "mesh.peak_rss_mib": max(med["giver_peak_rss_mib"], med["taker_peak_rss_mib"]),
        "mesh.even_peers_bytes": med["even_peers_bytes"],
    }
    RESULTS.mkdir(exist_ok=True)
    out = {
        "method": (
            f"{pages} pages x {args.changes_per_page} changes, two daemons on loopback, "
            f"{len(rounds)} round(s), median; "
            + ("measured at 10,000 pages" if pages == 10_000 else "10k figure scaled linearly")
        ),
        "rounds": rounds,
        "summary": summary,
        "targets": {"wire_vs_zlib": 1.3, "peak_rss_mib": 150},
    }
    (RESULTS / "bench_mesh_sync.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
