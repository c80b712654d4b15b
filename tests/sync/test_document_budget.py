"""Decoded documents beyond a budget fold back into bytes (sync/document_map.py `fold`):
the least recently used go first, values and sync are unchanged, the store writes a
folded document's bytes, and a load's replay keeps to the budget.  Real SQLite files."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from sync.document_map import Documents
from sync.errors import MalformedOp
from sync.pace import Pace
from sync.replica import Replica
from sync.text import TextDoc
from tests.sync.replicas import identity, open_store, replica, snapshot, sync_pair

PAGE = 16  # size_hint() of a one-block text page


def decoded(r: Replica) -> list[str]:
    return sorted(name for name in r.docs if r.docs.is_decoded(name))


def decoded_size(r: Replica) -> int:
    return sum(r.docs[name].size_hint() for name in decoded(r))


def edit_pages(author: Replica, rng: random.Random, pages: int, edits: int) -> None:
    for _ in range(edits):
        name = f"p{rng.randrange(pages)}"
        text = author.text(name)
        pos = rng.randint(0, len(text))
        if text and rng.random() < 0.3:
            author.delete_text(name, min(pos, len(text) - 1), 1)
        else:
            author.insert_text(name, pos, rng.choice(["été ", "forêt ", "🌱", "e\u0301"]))
        if rng.random() < 0.1:
            author.set_key(f"m{rng.randrange(pages)}", "titre", rng.choice(["a", "é"]))


def measure_decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The total size of the decoded documents that hold something (a new document is
    created empty, and costs next to nothing until its first op), sampled each time a
    document is decoded again and before each fold: the high-water marks."""
    sizes: list[int] = []

    def sample(docs: Documents) -> None:
        held = [docs._entries[name] for name in docs._recent]
        sizes.append(sum(doc.size_hint() for doc in held if doc.value()))  # type: ignore[union-attr]

    decode, fold = Documents._decode, Documents.fold

    def decoding(docs: Documents, *args: Any) -> Any:
        doc = decode(docs, *args)
        sample(docs)
        return doc

    def folding(docs: Documents, *args: Any) -> int:
        sample(docs)
        return fold(docs, *args)

    monkeypatch.setattr(Documents, "_decode", decoding)
    monkeypatch.setattr(Documents, "fold", folding)
    return sizes


def test_the_least_recently_used_fold_first_and_read_the_same() -> None:
    r, unlimited = replica(1, document_budget=3 * PAGE), replica(2)
    for n in range(10):
        for doc in (r, unlimited):
            doc.insert_text(f"p{n}", 0, f"page {n} : sobriété 🌍")
    assert r.docs.fold() == 7
    assert decoded(r) == ["p7", "p8", "p9"]
    assert r.text("p2") == unlimited.text("p2")  # decoded again from its bytes
    assert r.docs.fold() == 1
    assert decoded(r) == ["p2", "p8", "p9"]  # p7 was the least recently used
    assert r.docs.size_hint("p7") == PAGE  # known without decoding
    # editing a folded page decodes it, and the edit replicates as usual
    for doc in (r, unlimited):
        doc.insert_text("p0", 0, "» ")
    r.docs.fold()
    assert snapshot(r) == snapshot(unlimited)
    other = replica(3)
    sync_pair(r, other)
    assert snapshot(other) == snapshot(unlimited)


def test_without_a_budget_nothing_folds() -> None:
    r = replica(1)
    for n in range(5):
        r.insert_text(f"p{n}", 0, "x")
    assert r.docs.fold() == 0 and len(decoded(r)) == 5


def test_batches_keep_to_the_budget_and_converge_as_without_one() -> None:
    rng = random.Random(7)
    author, limited, unlimited = replica(1), replica(2, document_budget=4 * PAGE), replica(3)
    for _round in range(8):
        edit_pages(author, rng, pages=30, edits=60)
        author.seal()
        for r in (limited, unlimited):
            r.apply_segments(author.changes_since(r.version_vector()))
        assert decoded_size(limited) <= 4 * PAGE
        # concurrent local edits on folded and decoded pages alike
        edit_pages(limited, rng, pages=30, edits=5)
        limited.docs.fold()
        sync_pair(limited, unlimited)
        sync_pair(author, unlimited)
    sync_pair(author, limited)
    assert snapshot(limited) == snapshot(unlimited) == snapshot(author)


async def test_the_store_writes_folded_documents_as_they_are(tmp_path: Path) -> None:
    rng = random.Random(11)
    author, unlimited = replica(1), replica(3)
    async with open_store(tmp_path / "b.db") as store:
        limited = await store.async_load(identity(2), document_budget=3 * PAGE)
        for _round in range(5):
            edit_pages(author, rng, pages=20, edits=80)
            author.seal()
            batch = author.changes_since(limited.version_vector())
            await store.async_apply(limited, batch)
            unlimited.apply_segments(batch)
            assert decoded_size(limited) <= 3 * PAGE
        folded_dirty = [n for n in limited.dirty_docs if not limited.docs.is_decoded(n)]
        assert folded_dirty  # what the checkpoint below stores from bytes
        before = decoded(limited)
        limited.docs.budget = None  # no fold after the checkpoint: see what storing decodes
        await store.async_commit(limited, checkpoint=True)
        assert decoded(limited) == before  # storing them decoded none
        reloaded = await store.async_load(identity(2))
        assert reloaded.dirty_docs == {}
        assert snapshot(reloaded) == snapshot(unlimited) == snapshot(limited)


async def test_the_replay_at_load_keeps_to_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        await store.async_commit(a, checkpoint=True)
        edit_pages(a, rng, pages=40, edits=400)
        await store.async_commit(a)  # few ops per page: states lag, replayed at load
        monkeypatch.setattr(Pace, "due", lambda self: True)  # a pause (and fold) every change
        sizes = measure_decoded(monkeypatch)
        loaded = await store.async_load(identity(1), document_budget=2 * PAGE)
        monkeypatch.undo()  # the snapshots below decode everything
        assert len(loaded.dirty_docs) > 20  # the replay touched many pages
        assert decoded_size(loaded) <= 2 * PAGE
        # during the replay too: the budget, and one change's page (at most two blocks
        # here) and title beyond it, where keeping them all would be ten times more
        assert max(sizes) <= 4 * PAGE + 1
        assert sum(loaded.docs[name].size_hint() for name in loaded.documents()) > 10 * max(sizes)
        assert snapshot(loaded) == snapshot(a)


def test_a_batch_applied_in_steps_folds_what_it_is_done_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    author, unlimited = replica(1), replica(3)
    limited = replica(2, document_budget=2 * PAGE)
    for page in range(40):  # saves of one page after another, as a wiki gets written
        for n in range(8):
            author.insert_text(f"p{page}", n, "é")
    author.seal()
    batch = author.changes_since({})  # one batch touching every page
    unlimited.apply_segments(batch)
    monkeypatch.setattr(Pace, "due", lambda self: True)  # a pause after every change
    sizes = measure_decoded(monkeypatch)
    steps = limited.apply_segments_in_steps(batch)
    with pytest.raises(StopIteration):
        while True:
            next(steps)
    monkeypatch.undo()
    # beyond the budget, only the page the batch was changing
    assert max(sizes) <= 3 * PAGE
    assert sum(unlimited.docs[n].size_hint() for n in unlimited.documents()) > 10 * max(sizes)
    assert snapshot(limited) == snapshot(unlimited)


def test_checking_a_batch_leaves_folded_documents_folded() -> None:
    rng = random.Random(9)
    author = replica(1)
    limited, unlimited = replica(2, document_budget=PAGE), replica(3)
    edit_pages(author, rng, pages=12, edits=150)
    author.seal()
    for r in (limited, unlimited):
        r.apply_segments(author.changes_since({}))
    folded = [n for n in limited.documents() if not limited.docs.is_decoded(n)]
    assert len(folded) > 10
    for name in folded:  # the seed kept at folding is what decoding gives
        entry = limited.docs._entries[name]
        if entry.type_name == "text":
            assert entry.seed == TextDoc.decode_state(entry.state)._next  # type: ignore[union-attr]
    # a batch one of whose ops names a character no one typed: refused by the checks,
    # before anything is decoded or changed
    page = next(n for n in folded if n.startswith("p"))
    bad = replica(4)
    bad.apply_segments(author.changes_since({}))
    bad.insert_text(page, 0, "x")
    bad.seal()
    segment = bad.changes_since(limited.version_vector())
    forged = replica(5)
    forged.insert_text("autre", 0, "ok")
    forged.docs[page] = TextDoc()  # its op on `page` will name an unknown left origin
    forged.docs[page].apply(["i", 0, "ab", None, None], "nowhere", 0)
    forged.insert_text(page, 1, "z")
    forged.seal()
    before = snapshot(unlimited)
    with pytest.raises(MalformedOp, match="unknown character"):
        limited.apply_segments(forged.changes_since({}))
    assert [n for n in limited.documents() if not limited.docs.is_decoded(n)] == folded
    assert snapshot(limited) == before
    # a good batch still applies on folded documents, as on decoded ones
    for r in (limited, unlimited):
        r.apply_segments(segment)
    assert snapshot(limited) == snapshot(unlimited)


async def test_a_commit_folds_many_documents_a_slice_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a wiki reindex reads every page: the next commit has hundreds to fold, and other
    # tasks (visitors' pages) must run between slices of them
    author = replica(1)
    for n in range(40):
        author.insert_text(f"p{n}", 0, f"page {n}")
    author.seal()
    async with open_store(tmp_path / "b.db") as store:
        box = await store.async_load(identity(2))  # no budget yet: nothing folds
        await store.async_apply(box, author.changes_since({}))
        assert len(decoded(box)) == 40
        box.docs.budget = 2 * PAGE
        turns = 0
        slices: list[tuple[int, int]] = []  # (documents folded, visitor turns before)
        fold = Documents.fold

        def counted(docs: Documents, *args: Any, **kwargs: Any) -> int:
            folded = fold(docs, *args, **kwargs)
            slices.append((folded, turns))
            return folded

        async def visitor() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0)
                turns += 1

        monkeypatch.setattr(Documents, "fold", counted)
        monkeypatch.setattr(Pace, "due", lambda self: True)  # every slice over at once
        other = asyncio.create_task(visitor())
        await store.async_commit(box)
        other.cancel()
        assert [count for count, _turns in slices] == [1] * 38 + [0]  # one per slice
        assert len({seen for _count, seen in slices}) == len(slices)  # a turn between each
        assert decoded_size(box) <= 2 * PAGE
        monkeypatch.undo()
        assert snapshot(box) == snapshot(author)
