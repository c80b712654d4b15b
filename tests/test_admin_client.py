"""The CLI's admin-socket client against a daemon that misbehaves: a real Unix socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meshportal import admin
from meshportal.cli_daemon import CommandError, run_offline
from meshportal.settings import load_settings
from meshportal.store import DataDirLock

Reply = Callable[[socket.socket], None]


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Callable[[Reply], Path]]:
    """A one-shot server on a Unix socket in tmp_path that answers with `reply`."""
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(reply: Reply) -> Path:
        path = tmp_path / f"admin-{len(servers)}.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
        servers.append(server)

        def answer_once() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                reply(conn)

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        threads.append(thread)
        return path

    yield start
    for thread in threads:
        thread.join(timeout=5)
    for server in servers:
        server.close()


def _says(data: bytes) -> Reply:
    return lambda conn: conn.sendall(data)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (_says(b""), "without answering"),  # died or failed on the request
        (_says(b"<html>not json"), "not a JSON object"),
        (_says(b"[1, 2]"), "not a JSON object"),
    ],
)
def test_a_daemon_that_answers_nothing_usable_is_unavailable_not_a_traceback(
    serving: Callable[[Reply], Path], reply: Reply, message: str
) -> None:
    path = serving(reply)
    with pytest.raises(admin.AdminNoAnswer, match=message):  # an AdminUnavailable
        admin.ask(path, {"cmd": "status"})


def test_an_answer_comes_back_as_it_was_sent(serving: Callable[[Reply], Path]) -> None:
    path = serving(_says(b'{"running": true, "pid": 7}'))
    assert admin.ask(path, {"cmd": "status"}) == {"running": True, "pid": 7}


def test_no_socket_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(admin.AdminUnavailable):
        admin.ask(tmp_path / "absent.sock", {"cmd": "status"})


def test_offline_work_refuses_when_a_daemon_started_meanwhile(tmp_path: Path) -> None:
    # the command found no daemon, then one took the data-folder lock before the work
    settings = load_settings(env={}, flags={"data": str(tmp_path)})
    daemon = DataDirLock(tmp_path)
    daemon.acquire()
    touched: list[bool] = []

    async def work(_db: object) -> None:
        touched.append(True)

    try:
        with pytest.raises(CommandError, match="started meanwhile: nothing was changed"):
            run_offline(settings, work)
    finally:
        daemon.release()
    assert touched == []
