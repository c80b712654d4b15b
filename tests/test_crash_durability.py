"""SIGKILL in the middle of writes: everything acknowledged is there after a restart."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from meshportal.store import DB_FILE
from tests.conftest import ROOT, cli_env, start_daemon

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from meshportal.store import Database

    SCHEMA = ["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"]

    async def main(path):
        db = await Database.open(Path(path), {"crashtest": SCHEMA})
        batch = 0
        while True:
            rows = [(batch * 10 + i, "é" * 300) for i in range(10)]
            await db.write_many("INSERT INTO notes (id, body) VALUES (?, ?)", rows)
            # Only now, after COMMIT returned, is the batch acknowledged.
            print(batch, flush=True)
            batch += 1

    asyncio.run(main(sys.argv[1]))
    """
)


def test_sigkill_mid_write_loses_nothing_acknowledged(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir / DB_FILE)],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )
    assert writer.stdout is not None
    acknowledged = -1
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= 150:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    writer.stdout.close()
    assert acknowledged >= 150

    # The daemon opens the same folder after the crash, then stops cleanly.
    daemon = start_daemon(data_dir)
    assert daemon.stop() == 0
    assert daemon.process.stdout is not None
    daemon.process.stdout.close()

    conn = sqlite3.connect(data_dir / DB_FILE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in conn.execute("SELECT id FROM notes")}
    finally:
        conn.close()
    expected = set(range((acknowledged + 1) * 10))
    assert expected <= stored, f"lost {len(expected - stored)} acknowledged rows"
    # Batches are atomic: never part of one.
    assert len(stored) % 10 == 0
