"""The daemon's replica: loaded lazily, every edit and remote batch durable in SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshportal.app import library_migrations
from meshportal.identity import create_or_load
from meshportal.replica_host import ReplicaHost, board_document_budget
from meshportal.store import Database
from meshportal.sysinfo import memory_bytes
from sync.change import Change
from sync.errors import CorruptState
from sync.identity import Identity as SyncIdentity
from sync.replica import Replica


async def _open(tmp_path: Path, **options: int) -> tuple[Database, ReplicaHost]:
    identity, _created = create_or_load(tmp_path)
    db = await Database.open(tmp_path / "box.sqlite3", library_migrations())
    return db, ReplicaHost(db, identity, **options)


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


async def test_version_vector_is_read_from_the_store_without_loading(tmp_path: Path) -> None:
    db, host = await _open(tmp_path)
    async with host.editing() as replica:
        replica.replace_text("wiki/p3/body", "un")
        replica.replace_text("wiki/p3/body", "deux")
        expected = replica.version_vector()
    await db.close()
    db, host = await _open(tmp_path)
    assert await host.version_vector() == expected and not host.loaded
    await db.close()


async def test_a_clean_stop_stores_every_lagging_state(tmp_path: Path) -> None:
    db, host = await _open(tmp_path)
    async with host.editing() as replica:
        for n in range(3):  # a few small saves: below the lazy-state thresholds
            replica.replace_text(f"wiki/p{n}/body", f"Page {n} : énergie et sobriété")
    lagging = await _lagging_states(db)
    assert lagging > 0, "small saves leave their states to be written later"
    await host.checkpoint()
    assert await _lagging_states(db) == 0
    await db.close()
    db, host = await _open(tmp_path)
    assert (await host.replica()).text("wiki/p2/body") == "Page 2 : énergie et sobriété"
    await db.close()


async def test_a_corrupt_page_state_fails_that_page_alone(tmp_path: Path) -> None:
    """States decode on first use: a damaged one fails where its page is used (a view, a
    save, a peer's batch: CorruptState naming it, nothing changed), not the box's start,
    and the damaged row is kept for whoever repairs it."""
    db, host = await _open(tmp_path)
    async with host.editing() as replica:
        for n in range(2):
            replica.replace_text(f"wiki/p{n}/body", f"Page {n} : énergie et sobriété")
    await host.checkpoint()
    async with db.transaction() as conn:
        await conn.execute("UPDATE sync_document SET state = x'c1' WHERE name = 'wiki/p0/body'")
    await db.close()

    db, host = await _open(tmp_path)
    replica = await host.replica()
    assert replica.text("wiki/p1/body") == "Page 1 : énergie et sobriété"
    with pytest.raises(CorruptState, match="'wiki/p0/body'"):
        replica.text("wiki/p0/body")
    other = Replica(SyncIdentity.generate())
    other.replace_text("wiki/p0/body", "Écrasée ?")
    other.seal()
    vv = await host.version_vector()
    with pytest.raises(CorruptState, match="'wiki/p0/body'"):
        await host.apply(other.changes_since({}))
    with pytest.raises(CorruptState, match="'wiki/p0/body'"):
        async with host.editing() as replica:
            replica.replace_text("wiki/p0/body", "Écrasée ?")
    assert await host.version_vector() == vv
    async with host.editing() as replica:
        replica.replace_text("wiki/p1/body", "Page 1, encore là")
    await host.checkpoint()
    async with db.reader.execute(
        "SELECT state FROM sync_document WHERE name = 'wiki/p0/body'"
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None and row[0] == b"\xc1"  # kept as it was, for a repair
    await db.close()
    db, host = await _open(tmp_path)
    assert (await host.replica()).text("wiki/p1/body") == "Page 1, encore là"
    await db.close()


async def _lagging_states(db: Database) -> int:
    """Changes the next load would replay: those from sync_meta.replay_from on."""
    async with db.reader.execute("SELECT value FROM sync_meta WHERE key = 'replay_from'") as cur:
        row = await cur.fetchone()
    async with db.reader.execute("SELECT SUM(last_seq - first_seq + 1) FROM sync_order") as cur:
        total = await cur.fetchone()
    assert row is not None and total is not None
    return int(total[0]) - int(row[0])


def test_the_document_budget_is_an_eighth_of_the_board() -> None:
    mib = 1 << 20
    assert board_document_budget(512 * mib) * 430 == pytest.approx(64 * mib, rel=1e-4)
    assert board_document_budget(4096 * mib) == pytest.approx(
        8 * board_document_budget(512 * mib), abs=8
    )
    assert board_document_budget(32 * mib) == board_document_budget(128 * mib)  # a floor
    assert board_document_budget() >= board_document_budget(128 * mib)  # this machine


def _cgroup(tmp_path: Path, line: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self/cgroup and a /sys/fs/cgroup as the kernel lays them out."""
    proc = tmp_path / "cgroup"
    proc.write_text(f"{line}\n")
    root = tmp_path / "fs"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return proc, root


@pytest.mark.parametrize(
    ("line", "files", "expected"),
    [
        # cgroup v2, the unit's MemoryHigh=128M and MemoryMax=192M: the high mark counts
        ("0::/system.slice/meshportal.service",
         {"system.slice/meshportal.service/memory.high": "134217728",
          "system.slice/meshportal.service/memory.max": "201326592"}, 128 << 20),
        # no MemoryHigh: the hard cap
        ("0::/system.slice/meshportal.service",
         {"system.slice/meshportal.service/memory.high": "max",
          "system.slice/meshportal.service/memory.max": "201326592"}, 192 << 20),
        # cgroup v1's memory controller
        ("4:memory:/system.slice/meshportal.service",
         {"memory/system.slice/meshportal.service/memory.limit_in_bytes": "100663296"},
         96 << 20),
        # no cap at all, or a cgroup whose files are not there: the board's memory
        ("0::/user.slice", {"user.slice/memory.high": "max", "user.slice/memory.max": "max"},
         None),
        ("0::/gone", {}, None),
    ],
)  # fmt: skip
def test_the_memory_a_process_may_use_is_its_cgroups_cap(
    tmp_path: Path, line: str, files: dict[str, str], expected: int | None
) -> None:
    proc, root = _cgroup(tmp_path, line, files)
    board = memory_bytes(tmp_path / "absent", root)  # no cgroup file: the board's
    assert memory_bytes(proc, root) == (board if expected is None else expected)
    assert board > 128 << 20


async def test_pages_beyond_the_budget_fold_and_stay_whole(tmp_path: Path) -> None:
    db, host = await _open(tmp_path, document_budget=64)  # about four small pages
    try:
        async with host.editing() as replica:
            for n in range(12):
                replica.replace_text(f"wiki/p{n}/body", f"Page {n} : énergie et sobriété 🌱")
        replica = await host.replica()
        assert replica.docs.budget == 64
        assert replica.docs.decoded_count() <= 4  # folded at the commit
        async with host.editing() as replica:  # editing a folded page decodes it again
            replica.replace_text("wiki/p0/body", "Page 0 : réécrite")
        await host.checkpoint()
    finally:
        await db.close()
    db, host = await _open(tmp_path)
    try:
        replica = await host.replica()
        assert replica.text("wiki/p0/body") == "Page 0 : réécrite"
        assert replica.text("wiki/p11/body") == "Page 11 : énergie et sobriété 🌱"
    finally:
        await db.close()
