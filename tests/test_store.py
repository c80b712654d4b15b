from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshportal.store import (
    APPLICATION_ID,
    CorruptDatabase,
    Database,
    DataDirLock,
    DataDirLocked,
    DiskFull,
    ForeignDatabase,
    NewerSchema,
    StoreError,
)

WIDGETS = ["CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "t.sqlite3", {"widgets": WIDGETS})
    yield database
    await database.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_durable_settings(db: Database) -> None:
    async with db.writer.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with db.writer.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 2  # FULL
    async with db.writer.execute("PRAGMA application_id") as cur:
        assert (await cur.fetchone())[0] == APPLICATION_ID


async def test_migrations_apply_once_and_record_versions(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    steps = [*WIDGETS, "ALTER TABLE widgets ADD COLUMN colour TEXT;"]
    first = await Database.open(path, {"widgets": steps[:1]})
    await first.close()
    second = await Database.open(path, {"widgets": steps})
    async with second.reader.execute("SELECT component, version FROM schema_versions") as cur:
        versions = {row[0]: row[1] for row in await cur.fetchall()}
    await second.close()
    assert versions == {"meshportal": 1, "widgets": 2}
    again = await Database.open(path, {"widgets": steps})  # nothing to do, no error
    await again.close()


async def test_failed_migration_rolls_back_whole_step(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    broken = [*WIDGETS, "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);"]
    with pytest.raises(StoreError, match="migration widgets #2 failed"):
        await Database.open(path, {"widgets": broken})
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    version = conn.execute(
        "SELECT version FROM schema_versions WHERE component='widgets'"
    ).fetchone()
    conn.close()
    assert "half" not in tables and version == (1,)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    db = await Database.open(path, {"widgets": [*WIDGETS, "SELECT 1;"]})
    await db.close()
    with pytest.raises(NewerSchema, match="upgrade meshportal"):
        await Database.open(path, {"widgets": WIDGETS})


async def test_batch_write_is_one_transaction(db: Database) -> None:
    rows = [(i, f"w{i}") for i in range(1000)]
    await db.write_many("INSERT INTO widgets (id, name) VALUES (?, ?)", rows)
    with pytest.raises(sqlite3.IntegrityError):
        # the last row collides: the whole batch must be rolled back
        await db.write_many("INSERT INTO widgets (id, name) VALUES (?, ?)", [(5000, "a"), (1, "b")])
    async with db.reader.execute("SELECT count(*) FROM widgets") as cur:
        assert (await cur.fetchone())[0] == 1000


async def test_reader_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await db.reader.execute("INSERT INTO widgets (name) VALUES ('x')")


async def test_text_file_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    path.write_text("these are somebody's notes, not a database\n" * 10)
    before = digest(path)
    with pytest.raises(ForeignDatabase, match="not an SQLite database"):
        await Database.open(path)
    assert digest(path) == before


async def test_another_programs_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(ForeignDatabase, match="another program"):
        await Database.open(path)
    assert digest(path) == before
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id=1234")
    conn.commit()
    conn.close()
    with pytest.raises(ForeignDatabase, match="another application"):
        await Database.open(path)


async def test_corrupt_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    db = await Database.open(path, {"widgets": WIDGETS})
    await db.write_many("INSERT INTO widgets (name) VALUES (?)", [("x" * 500,)] * 200)
    await db.close()
    raw = bytearray(path.read_bytes())
    page = 4096
    raw[2 * page : 4 * page] = os.urandom(2 * page)  # scramble two b-tree pages
    path.write_bytes(bytes(raw))
    before = digest(path)
    with pytest.raises(CorruptDatabase, match="damaged"):
        await Database.open(path, {"widgets": WIDGETS})
    assert digest(path) == before


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(DataDirLocked, match=f"pid {os.getpid()}"):
            DataDirLock(tmp_path).acquire()
    finally:
        first.release()
    again = DataDirLock(tmp_path)
    again.acquire()  # released means usable again
    again.release()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> AsyncIterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs to fill the disk needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_full_disk_loses_nothing_already_saved(tiny_disk: Path) -> None:
    db = await Database.open(tiny_disk / "t.sqlite3", {"widgets": WIDGETS})
    saved = 0
    try:
        with pytest.raises(DiskFull, match="disk is full"):
            for _ in range(10_000):
                await db.write_many("INSERT INTO widgets (name) VALUES (?)", [("y" * 2000,)] * 10)
                saved += 10
        async with db.reader.execute("SELECT count(*) FROM widgets") as cur:
            assert (await cur.fetchone())[0] == saved
    finally:
        await db.close()
    reopened = sqlite3.connect(tiny_disk / "t.sqlite3")
    assert reopened.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert reopened.execute("SELECT count(*) FROM widgets").fetchone() == (saved,)
    reopened.close()
