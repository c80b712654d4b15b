"""The daemon as an admin meets it: the CLI run as a subprocess, a real server on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from meshportal.store import DB_FILE
from tests.conftest import ROOT, Daemon, free_port, run_cli, start_daemon


def test_init_is_safe_to_run_twice(data_dir: Path) -> None:
    first = run_cli("init", "--data", str(data_dir))
    assert first.returncode == 0, first.stderr
    key_before = (data_dir / "identity.key").read_bytes()
    second = run_cli("init", "--data", str(data_dir))
    assert second.returncode == 0 and "already there" in second.stdout
    assert (data_dir / "identity.key").read_bytes() == key_before
    node_line = [ln for ln in first.stdout.splitlines() if ln.startswith("node id:")]
    assert node_line and node_line[0] in second.stdout
    assert stat.S_IMODE((data_dir / "identity.key").stat().st_mode) == 0o600


def test_status_of_a_running_daemon(daemon: Daemon) -> None:
    result = run_cli("status", "--data", str(daemon.data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["running"] is True and report["pid"] == daemon.process.pid
    assert report["node_id"] and report["uptime_seconds"] >= 0
    assert report["database_bytes"] > 0 and report["free_disk_bytes"] > 0
    assert 0 < report["memory_bytes"] < 500 * 1024 * 1024
    text = run_cli("status", "--data", str(daemon.data), LANG="en_GB.UTF-8")
    assert "running" in text.stdout and report["node_id"] in text.stdout
    assert "internet" in text.stdout


def test_status_when_stopped_says_so_in_one_line(data_dir: Path) -> None:
    run_cli("init", "--data", str(data_dir))
    result = run_cli("status", "--data", str(data_dir), LANG="en_GB.UTF-8")
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "meshportal is not running"
    assert any("node id" in line for line in lines[1:])
    report = json.loads(run_cli("status", "--data", str(data_dir), "--json").stdout)
    assert report["running"] is False and report["node_id"]


def test_admin_socket_is_for_root_and_group_only(daemon: Daemon) -> None:
    sock = daemon.data / "admin.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660


def test_admin_socket_rejects_nonsense(daemon: Daemon) -> None:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(daemon.data / "admin.sock"))
        client.sendall(b"[1, 2]\n")
        answer = json.loads(client.makefile().readline())
    assert "bad request" in answer["error"]
    assert run_cli("status", "--data", str(daemon.data)).returncode == 0


def test_second_instance_refuses_to_start(daemon: Daemon) -> None:
    result = run_cli("serve", "--data", str(daemon.data), "--port", str(free_port()))
    assert result.returncode == 4
    assert f"pid {daemon.process.pid}" in result.stderr
    assert daemon.process.poll() is None


def test_port_already_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--data", str(tmp_path / "d"), "--port", str(port))
    assert result.returncode == 4
    assert f"port {port}" in result.stderr and "already in use" in result.stderr


def test_unwritable_data_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("serve", "--data", str(blocker / "data"))
    assert result.returncode == 4 and "cannot create data folder" in result.stderr
    if os.geteuid() == 0:
        # root ignores permission bits: a read-only mount is the honest test.
        ro = tmp_path / "ro"
        ro.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], check=False
        )
        if mounted.returncode == 0:
            try:
                result = run_cli("init", "--data", str(ro))
                assert result.returncode == 4 and "not writable" in result.stderr
            finally:
                subprocess.run(["umount", "-l", str(ro)], check=False)
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = run_cli("init", "--data", str(locked))
        assert result.returncode == 4 and "not writable" in result.stderr


def test_corrupt_database_stops_the_daemon_and_is_kept(data_dir: Path) -> None:
    run_cli("init", "--data", str(data_dir))
    db = data_dir / DB_FILE
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = db.read_bytes()
    result = run_cli("serve", "--data", str(data_dir), "--port", str(free_port()))
    assert result.returncode == 5 and "left untouched" in result.stderr
    assert db.read_bytes() == before


def test_sigterm_is_a_graceful_shutdown(data_dir: Path) -> None:
    running = start_daemon(data_dir)
    assert running.stop(signal.SIGTERM) == 0
    assert running.process.stdout is not None
    running.process.stdout.close()
    conn = sqlite3.connect(data_dir / DB_FILE)
    kinds = [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY id")]
    conn.close()
    assert kinds == ["start", "stop"]
    assert not (data_dir / "admin.sock").exists()
    assert not (data_dir / (DB_FILE + "-wal")).exists() or (
        (data_dir / (DB_FILE + "-wal")).stat().st_size == 0
    )


def test_sigint_too(data_dir: Path) -> None:
    running = start_daemon(data_dir)
    assert running.stop(signal.SIGINT) == 0
    assert running.process.stdout is not None
    running.process.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL])
def test_killed_daemon_restarts_cleanly(data_dir: Path, sig: int) -> None:
    running = start_daemon(data_dir)
    running.stop(sig)
    assert running.process.stdout is not None
    running.process.stdout.close()
    # The kernel released the lock; a stale admin socket is replaced.
    again = start_daemon(data_dir)
    try:
        assert run_cli("status", "--data", str(data_dir)).returncode == 0
    finally:
        assert again.stop() == 0
        assert again.process.stdout is not None
        again.process.stdout.close()


def test_runs_on_uvloop(daemon: Daemon) -> None:
    report = json.loads(run_cli("status", "--data", str(daemon.data), "--json").stdout)
    assert report["event_loop"] == "uvloop"


def test_falls_back_to_the_standard_loop_without_uvloop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from meshportal.daemon import new_event_loop_factory

    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    loop = new_event_loop_factory()()
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()


def test_the_daemon_answers_probes_and_reports_visitors(daemon: Daemon) -> None:
    import re
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def fetch(host: str, path: str, data: bytes | None = None) -> tuple[int, str]:
        request = urllib.request.Request(daemon.url + path, data=data, headers={"Host": host})
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.read().decode()

    assert fetch("captive.apple.com", "/hotspot-detect.html")[0] == 302
    status, page = fetch("127.0.0.1", "/")
    assert status == 200 and "Entrer" in page
    token = re.search(r'name="jeton" value="([^"]+)"', page)
    assert token
    form = urllib.parse.urlencode({"jeton": token.group(1)}).encode()
    assert fetch("127.0.0.1", "/captive/enter", form)[0] == 303
    assert fetch("captive.apple.com", "/hotspot-detect.html") == (
        200,
        "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
    )
    report = json.loads(run_cli("status", "--data", str(daemon.data), "--json").stdout)
    assert report["sections"]["visitors"] == {"accepted": 1}


def test_reload_reads_the_content_packs_again(tmp_path: Path) -> None:
    import shutil
    import urllib.request

    content = tmp_path / "content"
    shutil.copytree(ROOT / "content" / "bienvenue", content / "bienvenue")
    running = start_daemon(tmp_path / "data", None, "--content-dir", str(content))
    try:
        lesson = "/lecons/bienvenue/une-boite-locale"
        with urllib.request.urlopen(running.url + lesson) as response:
            assert "Une boîte, pas un nuage" in response.read().decode()
        page = content / "bienvenue" / "01-une-boite-locale.fr.md"
        page.write_text(
            page.read_text().replace("Une boîte, pas un nuage", "Une boîte, pas une ferme")
        )
        (content / "cassee").mkdir()
        (content / "cassee" / "manifest.toml").write_text("title = [")
        done = run_cli("reload", "--data", str(tmp_path / "data"))
        assert done.returncode == 0 and "bienvenue" in done.stdout and "cassee" in done.stderr
        with urllib.request.urlopen(running.url + lesson) as response:
            assert "Une boîte, pas une ferme" in response.read().decode()
        page.write_text(page.read_text().replace("pas une ferme", "pas un hangar"))
        running.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with urllib.request.urlopen(running.url + lesson) as response:
                if "pas un hangar" in response.read().decode():
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("SIGHUP did not reload the packs")
        assert running.process.poll() is None
    finally:
        running.stop()
        if running.process.stdout:
            running.process.stdout.close()
