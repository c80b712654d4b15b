"""Real daemons in network namespaces replicate the wiki: chains, partitions, rogues, crashes.

Each box is a real `meshportal serve` in its own namespace on a bridge; discovery is real
multicast DNS.  Visitors' edits are written into a stopped box's SQLite through the
daemon's own replica code (tests/mesh/offline.py), then the box is started.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import msgpack
import pytest

from tests.conftest import ROOT, cli_env
from tests.mesh import offline
from tests.mesh.lab import Box, Lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

SYNC = ("--sync-interval", "2")


def _init(lab: Lab, box: Box) -> None:
    done = lab.cli(box, "init")
    assert done.returncode == 0, done.stderr


def _trust(lab: Lab, box: Box, *others: Box) -> None:
    for other in others:
        done = lab.cli(box, "peer", "trust", other.node_id)
        assert done.returncode == 0, done.stderr


def _digest(box: Box) -> str:
    return str(box.ask("status")["sections"]["mesh"]["digest"])


def _even(*boxes: Box) -> bool:
    return len({_digest(box) for box in boxes}) == 1


def _isolate(lab: Lab, first: Box, second: Box) -> None:
    """Drop every frame between two ports of the bridge: these boxes are never adjacent."""
    a = f"p{lab.prefix[2:]}{lab.boxes.index(first) + 1}"
    c = f"p{lab.prefix[2:]}{lab.boxes.index(second) + 1}"
    rules = (
        "table bridge mesh_test {\n chain between {\n"
        "  type filter hook forward priority 0; policy accept;\n"
        f'  iifname "{a}" oifname "{c}" drop\n  iifname "{c}" oifname "{a}" drop\n }}\n}}\n'
    )
    subprocess.run(
        ["ip", "netns", "exec", lab.switch, "nft", "-f", "-"], input=rules, text=True,
        check=True, capture_output=True,
    )  # fmt: skip


def _link(lab: Lab, box: Box, up: bool) -> None:
    port = f"p{lab.prefix[2:]}{lab.boxes.index(box) + 1}"
    subprocess.run(
        ["ip", "-n", lab.switch, "link", "set", port, "up" if up else "down"], check=True
    )


def _restart_with_edit(lab: Lab, box: Box, *edits: offline.Edit) -> None:
    box.stop()
    offline.edit(box.data, *edits)
    lab.start(box, None, *SYNC)


def _text(name: str, text: str) -> offline.Edit:
    return lambda replica: replica.replace_text(name, text)


def _append(name: str, text: str) -> offline.Edit:
    return lambda replica: replica.insert_text(name, len(replica.text(name)), text)


def test_a_chain_partitioned_and_healed_converges_and_rogues_get_nothing(lab: Lab) -> None:
    a, b, c, rogue, relay = (lab.host(i) for i in (1, 2, 3, 4, 5))
    _isolate(lab, a, c)
    for box in (a, b, c, rogue, relay):
        _init(lab, box)
    _trust(lab, a, b)
    _trust(lab, b, a, c)
    _trust(lab, c, b, relay)  # the relay is trusted by c: only its forgery gives it away
    _trust(lab, rogue, a, b, c)  # the rogue trusts everyone; nobody trusts it
    offline.edit(a.data, _text("wiki/accueil/body", "Bienvenue, écrit par A.\n"))
    offline.edit(b.data, _text("wiki/b/body", "Page de B"))
    offline.edit(c.data, _text("wiki/c/body", "Page de C"), _append("wiki/c/body", " 🌱"))
    offline.edit(rogue.data, _text("wiki/accueil/body", "Le site est fermé (rogue)"))

    start = time.monotonic()
    for box in (a, b, c, rogue):
        lab.start(box, None, *SYNC)
    took = wait_for(lambda: _even(a, b, c), 30, "a, b and c converge")
    print(f"\nfirst convergence of the chain: {time.monotonic() - start:.2f} s after the starts"
          f" ({took:.2f} s of waiting)")  # fmt: skip

    # Partition: b is cut off; a and c (never adjacent) take visitors' edits meanwhile,
    # on the same page, and b too.
    _link(lab, b, False)
    a.stop()
    offline.edit(a.data, _append("wiki/accueil/body", "Ajout de A pendant la coupure.\n"))
    author, genuine = offline.segments(a.data)  # what a dishonest relay will alter
    lab.start(a, None, *SYNC)
    _restart_with_edit(lab, c, _append("wiki/accueil/body", "Ajout de C pendant la coupure.\n"))
    _restart_with_edit(lab, b, _text("wiki/b/body", "Page de B, révisée"))
    time.sleep(3)
    assert not _even(a, b) and not _even(b, c)

    # The dishonest relay offers c the partition's changes of a, altered.
    a_only = [s for s in genuine if msgpack.unpackb(s)[1] == author]
    segments_file = relay.data.parent / "a-segments.msgpack"
    segments_file.write_bytes(msgpack.packb(a_only))
    relay_run = lab.exec(
        relay, sys.executable, "-m", "tests.mesh.tamper_relay", str(relay.data), c.ip, "7717",
        c.node_id, str(segments_file), stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT,
    )  # fmt: skip
    out, _ = relay_run.communicate(timeout=60)
    attempts = [json.loads(line) for line in out.splitlines()]
    print(f"tampering relay: {attempts}")
    # c refuses the altered batch (the signature covers every byte) and ends the session;
    # being trusted, the relay had been sent c's own changes, but never again:
    assert "BadSignature" in attempts[0]["error"]
    assert "refused" in attempts[1]  # blocked after its forgery: no second session
    listed = c.peers()[relay.node_id]
    assert listed["blocked"] and "forged" in listed["last_error"]

    healed = time.monotonic()
    _link(lab, b, True)
    took = wait_for(lambda: _even(a, b, c), 10, "a, b and c converge within 10 s of the heal")
    print(f"converged {took:.2f} s after the last heal (A's edits reached C through B)")
    assert time.monotonic() - healed < 10

    peers_of_b = b.peers()
    report = lab.cli(b, "status")
    assert report.returncode == 0 and a.node_id in report.stdout
    for other in (a, c):
        row = peers_of_b[other.node_id]
        assert row["trusted"] and row["last_sync"] and row["bytes_in"] > 0, row
        assert (row["behind"], row["ahead"]) == (0, 0)
    assert not peers_of_b[rogue.node_id]["trusted"]

    for box in (a, b, c, rogue):
        box.stop()
    states = [offline.state(box.data) for box in (a, b, c)]
    assert states[0]["docs"] == states[1]["docs"] == states[2]["docs"]
    assert states[0]["vv"] == states[1]["vv"] == states[2]["vv"]
    page = states[2]["docs"]["wiki/accueil/body"]
    assert "Ajout de A pendant la coupure." in page and "Ajout de C pendant la coupure." in page
    assert "(rogue)" not in page and " T" not in page.replace("A.\n", "")
    rogue_state = offline.state(rogue.data)
    assert list(rogue_state["vv"]) == [rogue_state["origin"]]  # it received nothing
    assert all(rogue_state["origin"] not in s["vv"] for s in states)  # nobody took its edit


def test_a_daemon_killed_mid_sync_resumes_without_duplicates_or_loss(lab: Lab) -> None:
    import base64
    import os

    giver, taker = lab.host(1), lab.host(2)
    for box in (giver, taker):
        _init(lab, box)
    _trust(lab, giver, taker)
    _trust(lab, taker, giver)
    # 40 pages of ~700 KB of text: one segment each, one batch each (1 MiB frames)
    pages = {f"wiki/p{i:02d}/body": base64.b64encode(os.urandom(500_000)).decode()
             for i in range(40)}  # fmt: skip
    offline.edit(giver.data, *(_text(name, text) for name, text in pages.items()))
    # a slow link, as between two villages: 28 MB take several seconds, so the kill
    # lands mid-sync whatever the machine's speed (unthrottled it can finish between polls)
    subprocess.run(
        ["ip", "netns", "exec", giver.ns, "tc", "qdisc", "add", "dev", "eth0", "root",
         "tbf", "rate", "40mbit", "burst", "64kb", "latency", "200ms"],
        check=True,
    )  # fmt: skip
    lab.start(giver, None, *SYNC)
    lab.start(taker, None, *SYNC)
    deadline = time.monotonic() + 30
    while not 3 <= _count_segments(taker) < 30:  # read from the file: no admin round trip
        assert time.monotonic() < deadline, taker.peers()
        time.sleep(0.01)
    taker.stop(signal.SIGKILL)
    killed_at = _count_segments(taker)
    print(f"\nkilled with {killed_at} of 40 pages durable")
    assert 0 < killed_at < 40, killed_at
    restarted = time.monotonic()
    lab.start(taker, None, *SYNC)
    wait_for(lambda: _even(giver, taker), 60, "taker resumed and caught up")
    print(f"restarted, resumed and caught up in {time.monotonic() - restarted:.2f} s")
    giver.stop()
    taker.stop()
    theirs, ours = offline.state(giver.data), offline.state(taker.data)
    assert ours["vv"] == theirs["vv"]
    for name, text in pages.items():
        assert ours["docs"][name] == text  # byte for byte: no lost or doubled insert
    assert _count_segments(taker) == 40


def _count_segments(box: Box) -> int:
    """Pages the taker holds durably, read from its database file (the daemon may be dead):
    one change per page, counted in the stored segments (document states are written
    lazily, at checkpoints, so they would lag)."""
    import sqlite3

    path = box.data / "meshportal.sqlite3"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows: Any = conn.execute(
            "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM sync_segment"
        ).fetchone()
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        conn.close()
    return int(rows[0])
