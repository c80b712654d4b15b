"""systemd's notify protocol, with a real datagram socket standing in for systemd."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from meshportal.sdnotify import Notifier
from tests.conftest import start_daemon


def _collect(sock: socket.socket, until: str, timeout: float = 15) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in messages[-1]:
            break
    return messages


def test_daemon_notifies_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(path))
        daemon = start_daemon(
            tmp_path / "data", None, NOTIFY_SOCKET=str(path), WATCHDOG_USEC="200000"
        )
        try:
            seen = _collect(systemd, "READY=1")
            assert any("READY=1" in m and "STATUS=serving" in m for m in seen)
            pings = [m for m in _collect(systemd, "never", timeout=0.6) if m == "WATCHDOG=1"]
            assert len(pings) >= 3  # every 0.1 s: half the watchdog period
        finally:
            assert daemon.stop() == 0
            assert daemon.process.stdout is not None
            daemon.process.stdout.close()
        assert any("STOPPING=1" in m for m in _collect(systemd, "STOPPING=1", timeout=2))


def test_abstract_socket_address_and_disabled_notifier() -> None:
    assert not Notifier({}).enabled
    assert Notifier({}).watchdog_interval is None
    notifier = Notifier({"NOTIFY_SOCKET": "@meshportal-test", "WATCHDOG_USEC": "30000000"})
    assert notifier.enabled and notifier.watchdog_interval == 15.0
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None
