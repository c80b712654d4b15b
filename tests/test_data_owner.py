"""`sudo meshportal …` on a data folder the daemon's user owns leaves it all to that user.

The real CLI runs as root in a subprocess on a folder owned by ``nobody`` (65534); then a
daemon started as ``nobody`` must open and write the database.  See tests/other_user.py
for why the commands run in a mount namespace of their own.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from meshportal.data_owner import OwnerError, owner_for
from meshportal.identity import node_id_from_public_key
from meshportal.store import DB_FILE
from tests.conftest import ROOT, cli_env, free_port
from tests.other_user import NOBODY, as_user, why_not, wrap

OTHER = node_id_from_public_key(b"o" * 32)
needs_root = pytest.mark.skipif(why_not() is not None, reason=str(why_not()))


def _run(command: list[str], folder: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`command` as root, with `folder` and this Python reachable by nobody (other_user)."""
    return subprocess.run(
        wrap(command, [folder]),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(LANG="en_GB"),
        cwd=ROOT,
        check=False,
    )


def _cli_as_root(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "meshportal", *args, "--data", str(folder / "data")]
    return _run(command, folder, stdin)


def _not_nobodys(data: Path) -> list[str]:
    """Every file or folder under `data` (itself included) that `nobody` does not own."""
    found = [data, *data.rglob("*")]
    return [f"{p} {p.stat().st_uid}:{p.stat().st_gid}" for p in found
            if (p.stat().st_uid, p.stat().st_gid) != (NOBODY, NOBODY)]  # fmt: skip


def _daemon_as_nobody_writes(folder: Path) -> None:
    """Start `meshportal serve` as nobody, wait for it, stop it: it must have written."""
    port = free_port()
    serve = [sys.executable, "-m", "meshportal", "serve", "--data", str(folder / "data"),
             "--port", str(port), "--sync-port", "0"]  # fmt: skip
    log = (folder / "daemon.log").open("w")
    process = subprocess.Popen(
        wrap(as_user(NOBODY, NOBODY, serve), [folder]),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )
    log.close()
    assert process.stdout is not None
    try:
        ready = any("ready on" in line for line in iter(process.stdout.readline, ""))
        assert ready, (folder / "daemon.log").read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, (folder / "daemon.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
    with sqlite3.connect(f"file:{folder / 'data' / DB_FILE}?mode=ro", uri=True) as db:
        kinds = [row[0] for row in db.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds[-2:] == ["start", "stop"], kinds


def _folder_for_nobody(tmp_path: Path) -> Path:
    tmp_path.chmod(0o711)  # nobody may pass through to the data folder, not list ours
    return tmp_path


@needs_root
def test_offline_commands_as_root_leave_every_file_to_the_folders_owner(tmp_path: Path) -> None:
    folder = _folder_for_nobody(tmp_path)
    data = folder / "data"
    data.mkdir(mode=0o750)
    os.chown(data, NOBODY, NOBODY)  # as systemd's StateDirectory= makes it

    steps = [
        ("init",),
        ("peer", "add", "127.0.0.1:9"),
        ("peer", "trust", OTHER),
        ("peer", "list"),
        ("pack", "list"),
        ("admin", "set-password", "--stdin"),
    ]
    for step in steps:
        done = _cli_as_root(folder, *step, stdin="a long enough password\n")
        assert done.returncode == 0, (step, done.stderr)
        assert _not_nobodys(data) == [], step
    _daemon_as_nobody_writes(folder)
    # and again once the daemon has made its own files (certificates, cache, blobs)
    (data / "meshportal.lock").unlink()  # re-created by the next command
    done = _cli_as_root(folder, "peer", "untrust", OTHER)
    assert done.returncode == 0, done.stderr
    (data / "meshportal.lock").unlink()
    done = _cli_as_root(folder, "pack", "list")
    assert done.returncode == 0, done.stderr
    assert _not_nobodys(data) == []
    _daemon_as_nobody_writes(folder)


@needs_root
def test_init_as_root_makes_a_new_folder_for_the_named_owner(tmp_path: Path) -> None:
    folder = _folder_for_nobody(tmp_path)
    done = _cli_as_root(folder, "init", "--owner", "nobody")
    assert done.returncode == 0, done.stderr
    assert _not_nobodys(folder / "data") == []
    assert {p.name for p in (folder / "data").iterdir()} >= {DB_FILE, "identity.key"}
    _daemon_as_nobody_writes(folder)

    unknown = _cli_as_root(folder, "init", "--owner", "no-such-user-here")
    assert unknown.returncode == 2 and "no user 'no-such-user-here'" in unknown.stderr
    taken = _cli_as_root(folder, "init", "--owner", "root")
    assert taken.returncode == 2 and "already belongs to nobody" in taken.stderr
    assert _not_nobodys(folder / "data") == []


@needs_root
def test_init_as_root_gives_a_new_folder_to_the_owner_of_the_one_above(tmp_path: Path) -> None:
    folder = _folder_for_nobody(tmp_path)
    above = folder / "state"
    above.mkdir()
    os.chown(above, NOBODY, NOBODY)
    command = [sys.executable, "-m", "meshportal", "init", "--data", str(above / "data")]
    done = _run(command, folder)
    assert done.returncode == 0, done.stderr
    assert _not_nobodys(above / "data") == []


def test_only_root_changes_who_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert owner_for(data, euid=4242) is None  # anyone but root makes only their own files
    owner, uid = owner_for(data, euid=0), tmp_path.stat().st_uid
    assert owner is None if uid == 0 else owner is not None and owner.uid == uid
    if os.geteuid() == 0:
        os.chown(tmp_path, NOBODY, NOBODY)
        owner = owner_for(data, euid=0)
        assert owner is not None and (owner.uid, owner.gid) == (NOBODY, NOBODY)


def test_owner_names_a_real_user(tmp_path: Path) -> None:
    with pytest.raises(OwnerError, match="no-such-user-here"):
        owner_for(tmp_path / "data", "no-such-user-here", euid=0)


@needs_root
def test_a_file_root_left_behind_is_named_not_a_traceback(tmp_path: Path) -> None:
    folder = _folder_for_nobody(tmp_path)
    data = folder / "data"
    data.mkdir(mode=0o750)
    os.chown(data, NOBODY, NOBODY)
    (data / "meshportal.lock").write_bytes(b"")  # as an older `sudo meshportal` left it
    (data / "meshportal.lock").chmod(0o640)
    serve = [sys.executable, "-m", "meshportal", "serve", "--data", str(data),
             "--port", str(free_port()), "--sync-port", "0"]  # fmt: skip
    done = _run(as_user(NOBODY, NOBODY, serve), folder)
    assert done.returncode == 4, done.stderr
    assert "meshportal.lock: permission denied" in done.stderr
    assert "Traceback" not in done.stderr
