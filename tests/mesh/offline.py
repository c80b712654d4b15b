"""Editing and reading a stopped box's replica with the sync library, as the daemon would.

There is no wiki HTTP API in this branch yet, so the tests write visitors' edits straight
into a stopped box's SQLite file through ReplicaHost (the daemon's own code path), then
start the box.  The data-folder lock is held meanwhile, so no daemon can start on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meshportal.app import library_migrations
from meshportal.identity import create_or_load
from meshportal.replica_host import ReplicaHost
from meshportal.store import DB_FILE, Database, DataDirLock
from sync.replica import Replica

Edit = Callable[[Replica], object]


async def _with_host(data: Path, work: Callable[[ReplicaHost], Any]) -> Any:
    identity, _ = create_or_load(data)
    lock = DataDirLock(data)
    lock.acquire()
    db = await Database.open(data / DB_FILE, library_migrations())
    try:
        return await work(ReplicaHost(db, identity))
    finally:
        await db.close()
        lock.release()


def edit(data: Path, *edits: Edit) -> None:
    """Each edit becomes one durable commit (one signed segment), like one wiki save."""

    async def run(host: ReplicaHost) -> None:
        for one in edits:
            async with host.editing() as replica:
                one(replica)

    asyncio.run(_with_host(data, run))


def segments(data: Path) -> tuple[str, list[bytes]]:
    """The box's sync origin id and every segment it holds, in its application order."""

    async def run(host: ReplicaHost) -> tuple[str, list[bytes]]:
        replica = await host.replica()
        return replica.node_id, replica.changes_since({})

    result: tuple[str, list[bytes]] = asyncio.run(_with_host(data, run))
    return result


def state(data: Path) -> dict[str, Any]:
    """Every document's value and the version vector: compared byte for byte across boxes."""

    async def run(host: ReplicaHost) -> dict[str, Any]:
        replica = await host.replica()
        docs = {name: replica.value(name) for name in sorted(replica.documents())}
        return {"docs": docs, "vv": replica.version_vector(), "origin": replica.node_id}

    result: dict[str, Any] = asyncio.run(_with_host(data, run))
    return result
