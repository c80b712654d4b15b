"""A remote batch applied in steps (SyncStore.async_apply): other tasks run between the
steps, the result is apply_segments' result, and a cancellation never leaves a batch half
applied.  Real SQLite files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import sync.pace
from sync.errors import BadSignature
from sync.replica import Replica
from tests.sync.replicas import identity, open_store, replica, snapshot


def _wiki(author: Replica, pages: int, edits: int) -> list[bytes]:
    for n in range(pages):
        author.insert_text(f"wiki/{n}", 0, f"Page {n} : sobriété, forêt, été 🌱 ")
    for k in range(edits):
        name = f"wiki/{k % pages}"
        author.insert_text(name, k % 7, f"« {k} » ")
        author.set_key("catalogue", name, {"n": k})
    author.seal()
    return author.changes_since({})


@pytest.fixture
def every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps as short as they get: a pause after every segment checked, change checked
    and change applied."""
    monkeypatch.setattr(sync.pace, "SLICE_S", 0.0)


async def test_other_tasks_run_between_steps_and_the_result_is_the_same(
    tmp_path: Path, every_step: None
) -> None:
    segments = _wiki(replica(1), 20, 600)
    twin = replica(2)
    expected = twin.apply_segments(segments)
    ticks = 0
    applying = True

    async def other_task() -> None:
        nonlocal ticks
        while applying:
            ticks += 1
            await asyncio.sleep(0)

    async with open_store(tmp_path / "b.db") as store:
        b = await store.async_load(identity(2))
        ticker = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = ticks
        result = await store.async_apply(b, segments)
        applying = False
        await ticker
        assert ticks - before >= 10  # the loop went round while the batch applied
        assert len(result.applied) == len(expected.applied) == 620 + 600
        assert snapshot(b) == snapshot(twin) and b.version_vector() == twin.version_vector()
        loaded = await store.async_load(identity(2))
        assert snapshot(loaded) == snapshot(twin)


async def test_bad_input_still_changes_nothing(tmp_path: Path, every_step: None) -> None:
    segments = _wiki(replica(1), 5, 200)
    forged = bytearray(segments[-1])
    forged[-1] ^= 1  # the last byte of the body: its signature no longer matches
    async with open_store(tmp_path / "b.db") as store:
        b = await store.async_load(identity(2))
        dump = await store.async_dump()
        with pytest.raises(BadSignature):
            await store.async_apply(b, [*segments[:-1], bytes(forged)])
        assert b.version_vector() == {} and b.documents() == {}
        assert await store.async_dump() == dump


async def test_a_cancelled_apply_finishes_its_batch_and_the_next_commit_stores_it(
    tmp_path: Path, every_step: None
) -> None:
    author = replica(1)
    segments = _wiki(author, 20, 600)
    async with open_store(tmp_path / "b.db") as store:
        b = await store.async_load(identity(2))
        task = asyncio.create_task(store.async_apply(b, segments))
        for _turn in range(3):  # a few steps in, well before the end
            await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the whole batch is in the replica (never half of it), not yet on disk
        assert snapshot(b) == snapshot(author)
        assert b.version_vector() == author.version_vector()
        assert (await store.async_load(identity(2))).version_vector() == {}
        await store.async_commit(b)
        assert snapshot(await store.async_load(identity(2))) == snapshot(author)
