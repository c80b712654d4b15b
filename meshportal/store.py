"""The daemon's one SQLite database: opening it safely, migrating it, writing to it.

One writer connection, owned by the daemon, serialises every write; a
separate reader connection serves reads so a long write never blocks a page.
Libraries (``sync``, ``captive``) declare their schema as numbered
``MIGRATIONS`` lists and borrow the writer; this module applies them.

Durability: WAL mode with ``synchronous=FULL``.  In WAL mode, NORMAL may lose
the last commits on a power cut (the WAL is not synced at each commit); FULL
fsyncs the WAL at every commit, so a write we acknowledged survives a power
cut.  The cost is one fsync per transaction, which is why writes are batched:
one transaction per batch, ``executemany`` inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

DB_FILE = "meshportal.sqlite3"
LOCK_FILE = "meshportal.lock"
# Written into the file header so another program's database is recognised.
APPLICATION_ID = 0x4D455348  # "MESH"
_SQLITE_MAGIC = b"SQLite format 3\x00"

CORE_MIGRATIONS: list[str] = [
    # 1: an append-only journal of what the daemon did (starts, stops, admin actions).
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
]


class StoreError(Exception):
    """The data folder or database cannot be used; the message says why."""


class ForeignDatabase(StoreError):
    pass


class CorruptDatabase(StoreError):
    pass


class NewerSchema(StoreError):
    pass


class DataDirLocked(StoreError):
    pass


class DiskFull(StoreError):
    pass


class DataDirLock:
    """An exclusive ``flock`` on the data folder, held for the daemon's life.

    The kernel drops it when the process dies, even by SIGKILL, so a crash
    never leaves a stale lock behind.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except PermissionError:
            # most often a file root left behind: say which, not a traceback
            raise StoreError(
                f"cannot open {self.path}: permission denied; the data folder and its files"
                " must belong to the user meshportal runs as"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise DataDirLocked(
                f"another meshportal (pid {holder}) is already using {self.path.parent}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def inspect_file(path: Path) -> None:
    """Refuse a file that is not ours or not a database, before SQLite touches it."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return
    if not header:
        return  # an empty file: SQLite makes a database of it
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise ForeignDatabase(f"{path} is not an SQLite database; it was left untouched")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (0, APPLICATION_ID):
        raise ForeignDatabase(
            f"{path} belongs to another application (id {app_id:#x}); it was left untouched"
        )


def _check_integrity(path: Path) -> None:
    """quick_check on a plain connection, read-only, so nothing is written."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabase(f"{path} is damaged ({exc}); it was left untouched") from None
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise CorruptDatabase(f"{path} is damaged ({detail}); it was left untouched")
    if app_id == 0 and tables:
        raise ForeignDatabase(f"{path} holds another program's tables; it was left untouched")


class Database:
    """The open database: a writer, a reader, and the schema they share."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self.writer = writer
        self.reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path, migrations: Mapping[str, Sequence[str]] | None = None
    ) -> Database:
        inspect_file(path)
        if path.exists() and path.stat().st_size > 0:
            await asyncio.to_thread(_check_integrity, path)
        writer = await _connect(path)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=FULL")
            await writer.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db = cls(path, writer, writer)
            await db.migrate({"meshportal": CORE_MIGRATIONS, **(migrations or {})})
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        await reader.execute("PRAGMA query_only=ON")
        db.reader = reader
        return db

    async def close(self) -> None:
        if self.reader is not self.writer:
            await self.reader.close()
        with contextlib.suppress(sqlite3.Error):
            # Fold the WAL back so the file on the SD card is whole on its own.
            await self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self.writer.close()

    async def migrate(self, migrations: Mapping[str, Sequence[str]]) -> None:
        await self.writer.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions"
            " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        for component, steps in migrations.items():
            async with self.writer.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ) as cursor:
                row = await cursor.fetchone()
            current = row[0] if row else 0
            if current > len(steps):
                raise NewerSchema(
                    f"the database's {component} schema is version {current}, newer than this"
                    f" meshportal knows ({len(steps)}): upgrade meshportal"
                )
            for number in range(current, len(steps)):
                await self._apply_step(component, number + 1, steps[number])

    async def _apply_step(self, component: str, version: int, script: str) -> None:
        # executescript commits before it runs; the explicit BEGIN makes the
        # step and its version bump one transaction, rolled back together.
        if not component.isidentifier():
            raise StoreError(f"invalid schema component name {component!r}")
        # Both values are ours (an identifier and an int), checked above.
        bump = (
            "INSERT INTO schema_versions (component, version) VALUES"  # noqa: S608
            f" ('{component}', {int(version)}) ON CONFLICT(component)"
            f" DO UPDATE SET version = {int(version)};"
        )
        try:
            await self.writer.executescript(f"BEGIN IMMEDIATE;\n{script}\n;{bump}\nCOMMIT;")
        except sqlite3.Error as exc:
            if self.writer.in_transaction:
                await self.writer.rollback()
            raise StoreError(f"migration {component} #{version} failed: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the writer; committed (and fsynced) on exit."""
        async with self._write_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.writer.rollback()
                raise
            try:
                await self.writer.commit()
            except sqlite3.OperationalError as exc:
                await self.writer.rollback()
                raise _translate(exc) from exc

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer alone, for a library that runs its own BEGIN/COMMIT (sync's store)."""
        async with self._write_lock:
            try:
                yield self.writer
            except sqlite3.OperationalError as exc:
                raise _translate(exc) from exc

    async def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """A batch in one transaction: one thread hop and one fsync for all rows."""
        try:
            async with self.transaction() as conn:
                await conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise _translate(exc) from exc

    async def record_event(self, kind: str, detail: str = "") -> None:
        await self.write_many(
            "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
            [(time.time(), kind, detail)],
        )


def _translate(exc: sqlite3.OperationalError) -> Exception:
    if "full" in str(exc):
        return DiskFull("the disk is full: the write was not saved, nothing was lost")
    return exc


async def _connect(path: Path) -> aiosqlite.Connection:
    try:
        # isolation_level=None: we issue BEGIN ourselves, so transactions are explicit.
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA busy_timeout=5000")
    return conn
