"""`meshportal pack list|remove|accept` and `peer untrust|trust` on packs, as an admin
runs them: two real daemons on loopback, the admin socket, restarts, the daemon stopped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, free_port, run_cli, start_daemon
from tests.mesh.test_cli_pack import _node_id, _stop
from tests.test_lessons_web import fetch
from tests.test_packs import GOOD, make_pack

LESSON = "/lecons/cuisine/lecon"


def _wait(condition: Callable[[], Any], what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


def _rows(data: Path) -> dict[str, dict[str, Any]]:
    listed = run_cli("pack", "list", "--json", "--data", str(data))
    assert listed.returncode == 0, listed.stderr
    return {(r["name"], r["origin"]): r for r in json.loads(listed.stdout)}  # type: ignore[misc]


def _cli(*args: str, lang: str = "en_GB") -> Any:
    return run_cli(*args, LANG=lang)


def _set_version(content: Path, version: str) -> None:
    manifest = content / "cuisine" / "manifest.toml"
    manifest.write_text(manifest.read_text().split("version")[0] + f'version = "{version}"\n')


def _paired(tmp_path: Path) -> tuple[Daemon, Daemon, str, Path, int]:
    """a serves and publishes cuisine; b trusts a, accepts cuisine and serves it."""
    content = tmp_path / "content"
    make_pack(content, "cuisine", GOOD.replace("Texte", "Le pain au levain"))
    a_data, b_data = tmp_path / "a", tmp_path / "b"
    a_port, b_port = free_port(), free_port()
    a = start_daemon(a_data, None, "--sync-port", str(a_port), "--content-dir", str(content))
    b = start_daemon(b_data, None, "--sync-port", str(b_port), "--packs-accept", "cuisine")
    a_id, b_id = _node_id(a_data), _node_id(b_data)
    for data, other_id, port in ((a_data, b_id, b_port), (b_data, a_id, a_port)):
        assert run_cli("peer", "trust", other_id, "--data", str(data)).returncode == 0
        assert run_cli("peer", "add", f"127.0.0.1:{port}", "--data", str(data)).returncode == 0
    assert run_cli("pack", "publish", "cuisine", "--data", str(a_data)).returncode == 0
    _wait(lambda: fetch(b, LESSON)[0] == 200, "b serves the pack a published")
    return a, b, a_id, content, b_port


def _synced_since(data: Path, peer: str, since: float) -> bool:
    listed = json.loads(run_cli("peer", "list", "--json", "--data", str(data)).stdout)
    return any(p["node_id"] == peer and (p["last_sync"] or 0) > since for p in listed)


def test_list_remove_accept_and_trust_on_a_box_that_received_a_pack(tmp_path: Path) -> None:
    a, b, a_id, content, b_port = _paired(tmp_path)
    restart = ("--sync-port", str(b_port), "--packs-accept", "cuisine")  # where a finds b
    b_data, a_data = b.data, a.data
    try:
        rows = _rows(b_data)
        assert rows["bienvenue", "local"]["status"] == "served"
        assert rows["bienvenue", "local"]["publisher"] == ""
        cuisine = rows["cuisine", "received"]
        assert (cuisine["version"], cuisine["publisher"], cuisine["status"]) == (
            "1",
            a_id,
            "served",
        )
        assert cuisine["path"] == str(b_data / "packs" / "cuisine")
        text = _cli("pack", "list", "--data", str(b_data)).stdout
        assert "this box" in text and f"{a_id[:8]}…" in text and "served" in text
        french = _cli("pack", "list", "--data", str(b_data), lang="fr_FR.UTF-8").stdout
        assert "cette boîte" in french and "servi" in french

        local = _cli("pack", "remove", "bienvenue", "--data", str(b_data))
        assert local.returncode == 2 and "this box's own pack" in local.stderr
        unknown = _cli("pack", "remove", "nope", "--data", str(b_data))
        assert unknown.returncode == 2 and "no pack received" in unknown.stderr

        # distrust the publisher: withdrawn at once; trust it again: back
        untrust = _cli("peer", "untrust", a_id, "--data", str(b_data))
        assert untrust.returncode == 0 and "withdrawn: cuisine" in untrust.stdout
        assert fetch(b, LESSON)[0] == 404
        assert _rows(b_data)["cuisine", "received"]["reason"] == "untrusted"
        assert _cli("peer", "trust", a_id, "--data", str(b_data)).returncode == 0
        _wait(lambda: fetch(b, LESSON)[0] == 200, "the pack is back once a is trusted again")

        removed = _cli("pack", "remove", "cuisine", "--data", str(b_data))
        assert removed.returncode == 0 and "removed: cuisine 1" in removed.stdout
        assert fetch(b, LESSON)[0] == 404 and not (b_data / "packs" / "cuisine").exists()
        row = _rows(b_data)["cuisine", "received"]
        assert (row["status"], row["reason"], row["path"]) == ("withdrawn", "removed", "")

        # a newer version reaches b at the next sync: refused, and still after a restart
        _set_version(content, "2")
        assert run_cli("pack", "publish", "cuisine", "--data", str(a_data)).returncode == 0
        _wait(lambda: _refused(b_data).get("cuisine", "").startswith("removed"), "b refuses v2")
        _stop(b)
        offline = _rows(b_data)["cuisine", "received"]
        assert (offline["status"], offline["reason"]) == ("withdrawn", "removed")
        b = start_daemon(b_data, None, *restart)
        assert fetch(b, LESSON)[0] == 404
        _set_version(content, "3")
        published = time.time()
        assert run_cli("pack", "publish", "cuisine", "--data", str(a_data)).returncode == 0
        _wait(lambda: _synced_since(b_data, a_id, published), "a and b sync after v3")
        time.sleep(1)  # the catalog pass after the sync
        assert fetch(b, LESSON)[0] == 404 and not (b_data / "packs" / "cuisine").exists()

        # the admin asks again: taken at the next sync
        accepted = _cli("pack", "accept", "cuisine", "--data", str(b_data))
        assert accepted.returncode == 0 and "no longer refused" in accepted.stdout
        assert "Warning" not in accepted.stdout
        _set_version(content, "4")
        assert run_cli("pack", "publish", "cuisine", "--data", str(a_data)).returncode == 0
        _wait(lambda: fetch(b, LESSON)[0] == 200, "b takes cuisine again")
        assert _rows(b_data)["cuisine", "received"]["version"] == "4"

        # the daemon stopped: the removal is saved, applied before the next start serves
        _stop(b)
        saved = _cli("pack", "remove", "cuisine", "--data", str(b_data))
        assert saved.returncode == 0 and "next start" in saved.stdout, saved.stderr
        pending = _rows(b_data)["cuisine", "received"]
        assert (pending["status"], pending["reason"]) == ("pending", "removed")
        b = start_daemon(b_data, None, *restart)
        assert fetch(b, LESSON)[0] == 404 and not (b_data / "packs" / "cuisine").exists()
        assert _cli("pack", "accept", "cuisine", "--data", str(b_data)).returncode == 0
    finally:
        _stop(a)
        _stop(b)


def _refused(data: Path) -> dict[str, str]:
    report = json.loads(run_cli("status", "--json", "--data", str(data)).stdout)
    return {r["name"]: r["why"] for r in report["sections"]["packs"]["refused"]}
