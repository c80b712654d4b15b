"""A loaded replica decodes each document on first use (sync/document_map.py) and gives
what eager decoding gave: real SQLite stores, compared with a replica fed the same
segments."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import sync.pace
import sync.store
from sync.errors import CorruptState, DocumentTypeMismatch, UnknownDocumentType
from sync.replica import Replica
from sync.replica import mark_dirty as replica_mark_dirty
from sync.store import SyncStore
from tests.sync.replicas import identity, open_store, replica, snapshot


def write_wiki(author: Replica, pages: int) -> None:
    """Pages (text), their titles (maps) and one set, some edited twice."""
    for n in range(pages):
        author.insert_text(f"p{n}", 0, f"Page {n} : énergie et sobriété 🌱")
        author.set_key(f"m{n}", "titre", f"Titre {n}")
    author.add_element("tags", "école")
    for n in range(0, pages, 2):
        author.replace_text(f"p{n}", f"Page {n} : énergie, forêt et sobriété 🌱")
    author.seal()


def decoded(r: Replica) -> list[str]:
    return sorted(name for name in r.docs if r.docs.is_decoded(name))


async def stored_states(store: SyncStore) -> dict[str, bytes]:
    return {row[0]: row[2] for row in (await store.async_dump())["sync_document"]}


async def corrupt(store: SyncStore, name: str, **column: object) -> None:
    """Damage one stored row (its state by default) behind the store's back."""
    key, value = next(iter(column.items())) if column else ("state", b"\xc1 not msgpack")
    await store.conn.execute(
        f"UPDATE sync_document SET {key} = ? WHERE name = ?",  # noqa: S608 - our names
        (value, name),
    )
    await store.conn.commit()


async def stored_copy(store: SyncStore, author: Replica, pages: int) -> Replica:
    """Replica 2 fed `author`'s wiki of `pages` pages, every state stored in `store`."""
    write_wiki(author, pages)
    copy = replica(2)
    copy.apply_segments(author.changes_since({}))
    await store.async_commit(copy, checkpoint=True)
    return copy


async def test_a_loaded_replica_decodes_nothing_until_a_document_is_used(tmp_path: Path) -> None:
    async with open_store(tmp_path / "b.db") as store:
        b = await stored_copy(store, replica(1), 6)
        loaded = await store.async_load(identity(2))
        docs = loaded.docs
        # names, types, membership and size, all without decoding
        assert loaded.documents() == b.documents()
        assert sorted(docs) == sorted(b.docs) and len(docs) == len(b.docs) == 13
        assert "p3" in docs and "absent" not in docs and docs.get("absent") is None
        assert docs.type_of("m1") == "map" and docs.type_of("absent") is None
        assert decoded(loaded) == []
        assert loaded.text("p3") == b.text("p3")
        assert decoded(loaded) == ["p3"]
        assert docs.get("m1") is docs["m1"]  # decoded once, then kept
        assert decoded(loaded) == ["m1", "p3"]
        assert snapshot(loaded) == snapshot(b)
        assert decoded(loaded) == sorted(b.docs)


async def test_lazy_documents_give_what_a_replica_fed_the_same_segments_gives(
    tmp_path: Path,
) -> None:
    a, b, eager = replica(1), replica(2), replica(3)
    write_wiki(a, 6)
    first = a.changes_since({})
    b.apply_segments(first)
    eager.apply_segments(first)
    async with open_store(tmp_path / "b.db") as store:
        await store.async_commit(b, checkpoint=True)
        lazy = await store.async_load(identity(2))
        # history, past values and the segments offered read the log, not the documents
        assert lazy.history("p2") == eager.history("p2")
        version = lazy.history("p2")[0].version
        assert lazy.value_at("p2", version) == eager.value_at("p2", version)
        assert lazy.changes_since({}) == b.changes_since({})
        assert decoded(lazy) == []
        # a remote batch decodes what it touches, and only that
        a.insert_text("p1", 0, "» ")
        a.set_key("m3", "auteur", "Zoé")
        a.add_element("tags", "forêt")
        a.insert_text("neuve", 0, "Nouvelle page")
        a.seal()
        more = a.changes_since(lazy.version_vector())
        await store.async_apply(lazy, more)
        eager.apply_segments(more)
        assert decoded(lazy) == ["m3", "neuve", "p1", "tags"]
        # the type of an undecoded document is known to ingest: a conflicting one is refused
        c = replica(4)
        c.set_key("p5", "k", 1)
        c.seal()
        with pytest.raises(DocumentTypeMismatch):
            await store.async_apply(lazy, c.changes_since({}))
        assert "p5" not in decoded(lazy)
        # the same local edits on both
        for r in (lazy, eager):
            r.replace_text("p4", r.text("p4") + " Fin.")
            r.delete_key("m5", "titre")
            r.remove_element("tags", "école")
        await store.async_commit(lazy)
        assert snapshot(lazy) == snapshot(eager)
        assert lazy.history("p1") == eager.history("p1")
        # a checkpoint rewrites the changed states only; a reload gives the same again
        before = await stored_states(store)
        await store.async_commit(lazy, checkpoint=True)
        after = await stored_states(store)
        changed = {name for name in after if after[name] != before.get(name)}
        assert changed == {"p1", "m3", "tags", "neuve", "p4", "m5"}
        reloaded = await store.async_load(identity(2))
        assert reloaded.dirty_docs == {}
        assert snapshot(reloaded) == snapshot(eager)
        assert reloaded.changes_since({}) == lazy.changes_since({})
        rebuilt = await store.async_rebuild(identity(2))
        assert snapshot(rebuilt) == snapshot(eager)


async def test_the_replay_at_load_decodes_only_the_documents_it_replays(tmp_path: Path) -> None:
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        write_wiki(a, 6)
        await store.async_commit(a, checkpoint=True)
        a.insert_text("p1", 0, "» ")
        a.set_key("m2", "auteur", "Zoé")
        await store.async_commit(a)  # too few ops to rewrite those states: replayed at load
        loaded = await store.async_load(identity(1))
        assert set(loaded.dirty_docs) == {"p1", "m2"}
        assert decoded(loaded) == ["m2", "p1"]
        assert snapshot(loaded) == snapshot(a)


async def test_the_replay_lets_other_tasks_run_and_gives_the_same_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        for n in range(400):
            a.insert_text(f"p{n % 7}", 0, "é")
            a.set_key("m", str(n % 50), n)
        await store.async_commit(a)  # states written lazily: some stored, some replayed
        at_once = await store.async_load(identity(1))
        monkeypatch.setattr(sync.pace, "SLICE_S", 0.0)  # a turn after every change
        turns = 0
        seen: list[int] = []  # the other task's turn count at each op the replay applies

        async def count_turns() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0)
                turns += 1

        def mark_dirty(dirty: dict[str, list[int]], name: str, position: int) -> None:
            seen.append(turns)
            replica_mark_dirty(dirty, name, position)

        monkeypatch.setattr(sync.store, "mark_dirty", mark_dirty)
        counter = asyncio.create_task(count_turns())
        sliced = await store.async_load(identity(1))
        counter.cancel()
        assert len(seen) > 300  # ops replayed
        assert len(set(seen)) > len(seen) // 2  # the other task ran all along the replay
        # the segments the replay decoded are back to their compact bytes
        assert not any(s.is_decoded for log in sliced.logs.values() for s in log.segments)
        assert sliced.dirty_docs == at_once.dirty_docs
        assert sliced.applied_total == at_once.applied_total == a.applied_total
        assert snapshot(sliced) == snapshot(at_once) == snapshot(a)


async def test_a_corrupt_state_fails_only_where_its_document_is_used(tmp_path: Path) -> None:
    a = replica(1)
    async with open_store(tmp_path / "b.db") as store:
        b = await stored_copy(store, a, 4)
        await corrupt(store, "p1")
        damaged = (await stored_states(store))["p1"]
        loaded = await store.async_load(identity(2))  # nothing decoded: no error yet
        assert loaded.text("p2") == b.text("p2")
        for _attempt in range(2):  # every use says so, not only the first
            with pytest.raises(CorruptState, match=r"text document 'p1' does not decode"):
                loaded.text("p1")
        assert "p1" in loaded.docs and loaded.documents()["p1"] == "text"
        # a local edit and a remote batch that touch it are refused, and change nothing
        dump, vv = await store.async_dump(), loaded.version_vector()
        with pytest.raises(CorruptState, match="'p1'"):
            loaded.insert_text("p1", 0, "x")
        assert loaded.pending_count() == 0 and loaded.dirty_docs == {}
        a.insert_text("p1", 0, "» ")
        a.seal()
        with pytest.raises(CorruptState, match="'p1'"):
            await store.async_apply(loaded, a.changes_since(vv))
        assert await store.async_dump() == dump and loaded.version_vector() == vv
        # everything else keeps working, and the damaged state is kept as it was
        loaded.insert_text("p3", 0, "Toujours là : ")
        loaded.set_key("m1", "auteur", "Zoé")
        await store.async_commit(loaded, checkpoint=True)
        assert (await stored_states(store))["p1"] == damaged
        reloaded = await store.async_load(identity(2))
        assert reloaded.text("p3").startswith("Toujours là : ")
        assert reloaded.value("m1") == {"titre": "Titre 1", "auteur": "Zoé"}


async def test_a_corrupt_state_the_replay_needs_fails_the_load(tmp_path: Path) -> None:
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        write_wiki(a, 4)
        await store.async_commit(a, checkpoint=True)
        a.insert_text("p1", 0, "» ")
        await store.async_commit(a)  # p1's state lacks this change: replayed at load
        await corrupt(store, "p2")
        loaded = await store.async_load(identity(1))  # p2 is not replayed: decoded later
        assert loaded.text("p1") == a.text("p1")
        await corrupt(store, "p1")
        with pytest.raises(CorruptState, match="'p1'"):
            await store.async_load(identity(1))


async def test_a_stored_document_of_an_unknown_type_fails_the_load(tmp_path: Path) -> None:
    a = replica(1)
    async with open_store(tmp_path / "a.db") as store:
        write_wiki(a, 2)
        await store.async_commit(a, checkpoint=True)
        await corrupt(store, "m1", type="blob")
        with pytest.raises(UnknownDocumentType, match="'m1'"):
            await store.async_load(identity(1))
