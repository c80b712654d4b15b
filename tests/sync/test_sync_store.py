import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.sync.replicas import identity, open_store, replica, snapshot, sync_pair

ROOT = Path(__file__).resolve().parents[2]


async def test_commit_then_load_gives_the_same_replica(tmp_path: Path) -> None:
    a, b = replica(1), replica(2)
    a.insert_text("page", 0, "Chère amie, ça va ? 😀")
    b.set_key("meta", "titre", "Lettre")
    b.add_element("tags", "courrier")
    sync_pair(a, b)
    a.replace_text("page", "Chère amie, ça va bien ? 😀")
    async with open_store(tmp_path / "a.db") as store:
        await store.async_commit(a)
        loaded = await store.async_load(identity(1))
        assert snapshot(loaded) == snapshot(a)
        assert loaded.version_vector() == a.version_vector()
        assert [h.seq for h in loaded.history("page")] == [h.seq for h in a.history("page")]
        # the loaded replica keeps editing and syncing where the original stopped
        loaded.insert_text("page", 0, "» ")
        await store.async_commit(loaded)
        sync_pair(loaded, b)
        assert b.text("page") == "» Chère amie, ça va bien ? 😀"
        rebuilt = await store.async_rebuild(identity(1))
        assert snapshot(rebuilt) == snapshot(loaded)
        assert rebuilt.version_vector() == loaded.version_vector()


async def test_remote_batch_is_one_transaction_and_offer_waits_for_durability(
    tmp_path: Path,
) -> None:
    a, b = replica(1), replica(2)
    for i in range(30):
        a.insert_text("p", i, "x")
        a.seal()
    async with open_store(tmp_path / "b.db") as store:
        b.insert_text("q", 0, "pending")
        b.seal()
        assert b.changes_since({}) != []  # no store attached: everything sealed is offered
        b = await store.async_load(identity(2))  # now a stored replica: nothing committed yet
        b.insert_text("q", 0, "pending")
        b.seal()
        assert b.changes_since({}) == []  # sealed but not durable: never offered
        result = await store.async_apply(b, a.changes_since({}))
        assert len(result.applied) == 30
        assert b.changes_since({a.node_id: 30}) != []  # the commit made our change durable
        dump = await store.async_dump()
        assert len(dump["sync_segment"]) == 31
        # small documents' states are stored lazily: a load replays their few ops
        assert dump["sync_document"] == []
        reloaded = await store.async_load(identity(2))
        assert snapshot(reloaded) == snapshot(b)
        await store.async_commit(b, checkpoint=True)
        dump = await store.async_dump()
        assert {row[0] for row in dump["sync_document"]} == {"p", "q"}
        assert (await store.async_load(identity(2))).dirty_docs == {}  # nothing to replay


async def test_lazy_states_replay_only_what_they_lack(tmp_path: Path) -> None:
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        a.insert_text("big", 0, "x" * 50)
        for i in range(200):  # enough ops for "big" to be stored, not for "small"
            a.insert_text("big", i, "é")
        await store.async_commit(a)
        a.set_key("small", "k", 1)
        a.insert_text("big", 0, "début ")
        await store.async_commit(a)
        rows = {row[0]: row for row in (await store.async_dump())["sync_document"]}
        assert set(rows) == {"big"} and rows["big"][3] == 201  # as of change 201
        loaded = await store.async_load(identity(1))
        assert snapshot(loaded) == snapshot(a)
        assert set(loaded.dirty_docs) == {"small", "big"}  # replayed, still not stored
        assert loaded.applied_total == a.applied_total == 203


def python_command() -> list[str]:
    """How to start another Python like this one. Under qemu user-mode emulation
    (bench/aarch64/run.sh) sys.executable is an aarch64 binary this kernel cannot exec,
    so run.sh names the emulator command in MESHPORTAL_CHILD_PYTHON."""
    wrapped = os.environ.get("MESHPORTAL_CHILD_PYTHON")
    return shlex.split(wrapped) if wrapped else [sys.executable]


def test_sigkill_during_commits_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    rng = random.Random(3)
    acknowledged = (0, 0)
    for _round in range(3):
        proc = subprocess.Popen(
            [*python_command(), "-m", "tests.sync.crash_writer", str(db)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        target = acknowledged[0] + rng.randint(5, 40)
        last = acknowledged
        while last[0] < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = _ack(line)
        time.sleep(rng.random() * 0.05)  # land the kill anywhere inside a later commit
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().splitlines():
            if line.strip():
                last = _ack(line)
        proc.stdout.close()
        assert last > acknowledged, "the writer made no progress"
        acknowledged = last
        _check_store(db, acknowledged)


def _ack(line: str) -> tuple[int, int]:
    n, seq = line.split()
    return int(n), int(seq)


def _check_store(db: Path, acknowledged: tuple[int, int]) -> None:
    import asyncio

    async def check() -> None:
        async with open_store(db) as store:
            assert await store.async_integrity_check() == "ok"
            loaded = await store.async_load(identity(1))
            seq = loaded.version_vector()[loaded.node_id]
            n = loaded.value("meta")["n"]
            assert (n, seq) >= acknowledged
            assert loaded.text("page").startswith(f"é{n} ")
            rebuilt = await store.async_rebuild(identity(1))
            assert snapshot(rebuilt) == snapshot(loaded)

    asyncio.run(check())
