"""SIGKILL the daemon while visitors are being acknowledged; restart; nothing acknowledged is lost.

Each visitor is a different loopback address (127.0.1.N): its tap on Enter is a write
the daemon acknowledges with a 303 only after the commit.
"""

from __future__ import annotations

import http.client
import re
import signal
import sqlite3
import threading
from pathlib import Path

from meshportal.store import DB_FILE
from tests.conftest import Daemon, start_daemon


def enter_as(daemon: Daemon, source: str) -> bool:
    """One visitor taps Enter; True only when the daemon acknowledged it."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5,
                                      source_address=(source, 0))  # fmt: skip
    try:
        conn.request("GET", "/", headers={"Host": "booture.lan"})
        page = conn.getresponse().read().decode()
        token = re.search(r'name="jeton" value="([^"]+)"', page)
        if token is None:
            return False
        conn.request("POST", "/captive/enter", body=f"jeton={token.group(1)}",
                     headers={"Host": "booture.lan",
                              "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        return conn.getresponse().status == 303
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def test_sigkill_during_acknowledged_writes(data_dir: Path) -> None:
    daemon = start_daemon(data_dir)
    acknowledged: list[str] = []
    stop = threading.Event()

    def visitors(offset: int) -> None:
        for n in range(offset, 250, 4):
            if stop.is_set():
                return
            source = f"127.0.1.{n + 1}"
            if enter_as(daemon, source):
                acknowledged.append(source)

    threads = [threading.Thread(target=visitors, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 40 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.01)
    daemon.stop(signal.SIGKILL)  # in the middle of the stream of writes
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert daemon.process.stdout is not None
    daemon.process.stdout.close()
    assert len(acknowledged) >= 40

    again = start_daemon(data_dir)  # the lock died with the process; the WAL is replayed
    try:
        conn = sqlite3.connect(data_dir / DB_FILE)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = {row[0] for row in conn.execute("SELECT ip FROM captive_acceptances")}
        finally:
            conn.close()
        lost = set(acknowledged) - stored
        assert not lost, f"{len(lost)} acknowledged visitors lost"
        # and the restarted daemon honours them: a probe from one gets "online"
        probe = http.client.HTTPConnection("127.0.0.1", again.port, timeout=5,
                                           source_address=(acknowledged[0], 0))  # fmt: skip
        probe.request("GET", "/generate_204", headers={"Host": "connectivitycheck.gstatic.com"})
        assert probe.getresponse().status == 204
        probe.close()
    finally:
        again.stop()
        assert again.process.stdout is not None
        again.process.stdout.close()
