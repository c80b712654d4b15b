"""The daemon's replica: loaded lazily, every edit and remote batch durable in SQLite."""

from __future__ import annotations

from pathlib import Path

from meshportal.app import library_migrations
from meshportal.identity import create_or_load
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database
from sync.change import Change
from sync.identity import Identity as SyncIdentity
from sync.replica import Replica


async def _open(tmp_path: Path) -> tuple[Database, ReplicaHost]:
    identity, _created = create_or_load(tmp_path)
    db = await Database.open(tmp_path / "box.sqlite3", library_migrations())
    return db, ReplicaHost(db, identity)


async def test_edits_survive_a_restart_and_are_announced(tmp_path: Path) -> None:
    db, host = await _open(tmp_path)
    seen: list[list[Change]] = []

    async def listener(_replica: Replica, changes: list[Change]) -> None:
        seen.append(changes)

    host.on_commit(listener)
    assert not host.loaded
    async with host.editing() as replica:
        replica.replace_text("wiki/p1/body", "Écologie numérique 🌱")
        replica.set_key("wiki/p1/meta", "title", "Accueil")
    assert [len(batch) for batch in seen] == [2]
    await db.close()

    db, host = await _open(tmp_path)
    replica = await host.replica()
    assert replica.text("wiki/p1/body") == "Écologie numérique 🌱"
    assert replica.value("wiki/p1/meta") == {"title": "Accueil"}
    await db.close()


async def test_remote_batch_is_applied_and_announced(tmp_path: Path) -> None:
    db, host = await _open(tmp_path)
    seen: list[int] = []

    async def listener(_replica: Replica, changes: list[Change]) -> None:
        seen.append(len(changes))

    host.on_commit(listener)
    other = Replica(SyncIdentity.generate())
    other.replace_text("wiki/p2/body", "Bonjour")
    other.seal()
    result = await host.apply(other.changes_since({}))
    assert len(result.applied) == 1 and seen == [1]
    await db.close()
    db, host = await _open(tmp_path)
    assert (await host.replica()).text("wiki/p2/body") == "Bonjour"
    await db.close()
