"""Shared test helpers for replicas: deterministic identities, fresh stores, syncing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from sync.identity import Identity
from sync.replica import Replica
from sync.schema import MIGRATIONS
from sync.store import SyncStore


def identity(n: int) -> Identity:
    """The n-th fixed test identity (private key = 32 bytes of n)."""
    return Identity.from_private_bytes(bytes([n]) * 32)


def replica(n: int, **options: object) -> Replica:
    return Replica(identity(n), **options)  # type: ignore[arg-type]


def sync_pair(a: Replica, b: Replica) -> None:
    """Seal both and exchange everything each lacks, through the public API."""
    a.seal()
    b.seal()
    b.apply_segments(a.changes_since(b.version_vector()))
    a.apply_segments(b.changes_since(a.version_vector()))


def snapshot(r: Replica) -> dict[str, object]:
    return {name: r.value(name) for name in sorted(r.documents())}


@asynccontextmanager
async def open_store(path: Path) -> AsyncIterator[SyncStore]:
    """A store on a real SQLite file, configured as the daemon does (WAL, synchronous=FULL)."""
    conn = await aiosqlite.connect(path)
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        async with conn.execute("SELECT count(*) FROM sqlite_master WHERE name='sync_meta'") as c:
            row = await c.fetchone()
        if row is not None and row[0] == 0:
            for sql in MIGRATIONS:
                await conn.executescript(sql)
        yield SyncStore(conn)
    finally:
        await conn.close()
