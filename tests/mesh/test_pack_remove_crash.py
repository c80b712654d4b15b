"""A daemon killed in the middle of `meshportal pack remove`: after a restart the box is
in the old state (the pack served) or the new one (withdrawn, folder and archive gone,
nothing left in the staging folder), never in between.

The crash is a real process exit at each step of the removal: a ``sitecustomize`` on the
daemon's path wraps the step named by ``MP_CRASH_AT`` (our own functions: the seams)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, run_cli, start_daemon
from tests.mesh.test_cli_pack import _stop
from tests.mesh.test_cli_pack_admin import LESSON, _paired
from tests.test_lessons_web import fetch

CRASH = """
import os

point = os.environ.get("MP_CRASH_AT", "")
if point:
    from meshportal import blobs, pack_disk, pack_withdrawals

    def die(*args, **kwargs):
        os._exit(9)

    def then_die(original):
        def run(*args, **kwargs):
            original(*args, **kwargs)
            os._exit(9)
        return run

    recorded = pack_withdrawals.WithdrawalTable.record

    async def record(self, item):
        if point == "after-record":
            await recorded(self, item)
        os._exit(9)

    if point in ("before-record", "after-record"):
        pack_withdrawals.WithdrawalTable.record = record
    elif point == "folder-moved":  # right after the rename out of DATA/packs
        pack_disk.fsync_dir = die
    elif point == "index-written":
        pack_disk.write_atomically = then_die(pack_disk.write_atomically)
    elif point == "archive":
        blobs.BlobStore.delete = die
"""


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of a stopped box that received and served the pack cuisine."""
    root = tmp_path_factory.mktemp("paired")
    a, b, *_ = _paired(root)
    _stop(a)
    _stop(b)
    return b.data


def _state(data: Path) -> str:
    """ "old" or "new" after a restart; anything in between fails the test."""
    daemon = start_daemon(data, None, "--sync-port", str(free_port()), "--packs-accept", "cuisine")
    try:
        status = fetch(daemon, LESSON)[0]
        listed = run_cli("pack", "list", "--json", "--data", str(data))
        rows = {r["name"]: r for r in json.loads(listed.stdout) if r["origin"] == "received"}
    finally:
        _stop(daemon)
    row: dict[str, Any] = rows["cuisine"]
    index = json.loads((data / "packs" / "installed.json").read_text())
    archives = [p for p in (data / "blobs").glob("??/*") if p.is_file()]
    staging = data / "packs-staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    if status == 200:
        assert row["status"] == "served" and "cuisine" in index and len(archives) == 1
        return "old"
    assert status == 404 and (row["status"], row["reason"]) == ("withdrawn", "removed")
    assert not (data / "packs" / "cuisine").exists() and "cuisine" not in index
    assert archives == []  # the archive goes too, at the latest at the restart
    return "new"


@pytest.mark.parametrize(
    ("point", "expected"),
    [("before-record", "old"), ("after-record", "new"), ("folder-moved", "new"),
     ("index-written", "new"), ("archive", "new")],
)  # fmt: skip
def test_a_crash_mid_removal_leaves_the_old_or_the_new_state(
    received: Path, tmp_path: Path, point: str, expected: str
) -> None:
    data = tmp_path / "b"
    shutil.copytree(received, data)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CRASH)
    daemon = start_daemon(
        data, None, "--sync-port", str(free_port()), "--packs-accept", "cuisine",
        MP_CRASH_AT=point, PYTHONPATH=f"{hooks}:{ROOT}",
    )  # fmt: skip
    try:
        removed = run_cli("pack", "remove", "cuisine", "--data", str(data))
        assert removed.returncode != 0, removed.stdout
        assert daemon.process.wait(timeout=20) == 9  # it died at that step
    finally:
        _stop(daemon)
    assert _state(data) == expected
