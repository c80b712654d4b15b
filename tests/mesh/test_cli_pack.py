"""`meshportal pack publish` between two real daemons on loopback: the lesson a box
publishes is served by the trusted box that accepts it, and status says so."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import Daemon, free_port, run_cli, start_daemon
from tests.test_lessons_web import fetch
from tests.test_packs import GOOD, make_pack


def _stop(daemon: Daemon) -> None:
    daemon.stop()
    if daemon.process.stdout:
        daemon.process.stdout.close()


def _node_id(data: Path) -> str:
    node_id: str = json.loads(run_cli("status", "--json", "--data", str(data)).stdout)["node_id"]
    return node_id


def test_a_published_pack_is_served_by_the_trusted_box_that_accepts_it(tmp_path: Path) -> None:
    content = tmp_path / "content"
    make_pack(content, "cuisine", GOOD.replace("Texte", "Le pain au levain"))
    a_data, b_data = tmp_path / "a", tmp_path / "b"
    a_port, b_port = free_port(), free_port()
    assert run_cli("pack", "publish", "cuisine", "--data", str(a_data)).returncode != 0
    a = start_daemon(a_data, None, "--sync-port", str(a_port), "--content-dir", str(content))
    b = start_daemon(b_data, None, "--sync-port", str(b_port), "--packs-accept", "cuisine")
    try:
        a_id, b_id = _node_id(a_data), _node_id(b_data)
        for data, other_id, port in ((a_data, b_id, b_port), (b_data, a_id, a_port)):
            assert run_cli("peer", "trust", other_id, "--data", str(data)).returncode == 0
            added = run_cli("peer", "add", f"127.0.0.1:{port}", "--data", str(data))
            assert added.returncode == 0 and other_id in added.stdout, added.stderr
        assert fetch(b, "/lecons/cuisine/lecon")[0] == 404

        missing = run_cli("pack", "publish", "nope", "--data", str(a_data))
        assert missing.returncode == 2 and "nope" in missing.stderr
        published = run_cli("pack", "publish", "cuisine", "--data", str(a_data), LANG="en_GB")
        assert published.returncode == 0, published.stderr
        assert "published: cuisine 1" in published.stdout

        deadline = time.monotonic() + 20  # the commit triggers a sync within a second
        while time.monotonic() < deadline:
            status, page, _ = fetch(b, "/lecons/cuisine/lecon")
            if status == 200:
                break
            time.sleep(0.2)
        print(f"\npack served by b {20 - (deadline - time.monotonic()):.1f} s after publishing")
        assert status == 200 and "Le pain au levain" in page
        assert fetch(b, "/lecons/cuisine/images/schema.svg")[0] == 200
        report = json.loads(run_cli("status", "--json", "--data", str(b_data)).stdout)
        packs = report["sections"]["packs"]
        assert packs["installed"] == [{"name": "cuisine", "version": "1", "publisher": a_id}]
        assert packs["accept"] == "cuisine" and packs["refused"] == []
        text = run_cli("status", "--data", str(b_data)).stdout
        assert "packs.installed" in text and a_id in text
    finally:
        _stop(a)
        _stop(b)
