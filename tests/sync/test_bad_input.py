"""Every kind of bad remote input: a specific error, the store exactly as before (compared as
a full dump), and the engine still applies the next good batch."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from sync.chain import genesis_hash, seal
from sync.change import Change
from sync.codec import BODY_ZLIB, Limits, SegmentEnvelope, encode_segment
from sync.errors import (
    BadSignature,
    BufferFull,
    ChainMismatch,
    ClockSkew,
    DocumentTypeMismatch,
    Equivocation,
    MalformedInput,
    MalformedOp,
    SyncError,
    TooLarge,
    UnknownDocumentType,
)
from sync.hlc import LOGICAL_BITS, wall_ms
from sync.replica import Replica
from sync.store import SyncStore
from tests.sync.replicas import identity, open_store, replica, snapshot

EVE = identity(9)
NOW = wall_ms() << LOGICAL_BITS


def forged(changes: list[Change], prev: bytes | None = None) -> bytes:
    """A correctly signed segment by EVE with arbitrary (possibly bad) contents."""
    return seal(EVE, prev or genesis_hash(EVE.node_id), changes).raw


def eve(seq: int, ops: tuple[Any, ...], hlc: int | None = None) -> Change:
    return Change(EVE.node_id, seq, hlc or NOW + seq, (), ops)


def envelope_list(raw: bytes) -> list[Any]:
    return msgpack.unpackb(raw)  # type: ignore[no-any-return]


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[tuple[SyncStore, Replica, Replica]]:
    """A stored replica B that already holds some history of A; plus A for good batches."""
    a = replica(1)
    a.insert_text("page", 0, "Déjà là ✓")
    a.set_key("meta", "titre", "Page")
    a.seal()
    async with open_store(tmp_path / "b.db") as store:
        b = await store.async_load(identity(2), limits=Limits(max_batch_segments=64))
        b.insert_text("local", 0, "à moi")
        await store.async_apply(b, a.changes_since({}))
        yield store, b, a


async def assert_rejected(
    target: tuple[SyncStore, Replica, Replica], raws: list[bytes], error: type[SyncError]
) -> None:
    store, b, a = target
    dump, state, vv = await store.async_dump(), snapshot(b), b.version_vector()
    with pytest.raises(error):
        await store.async_apply(b, raws)
    assert await store.async_dump() == dump
    assert snapshot(b) == state and b.version_vector() == vv
    # the engine keeps working
    a.insert_text("page", 0, "+")
    a.seal()
    result = await store.async_apply(b, a.changes_since(b.version_vector()))
    assert result.applied and b.text("page") == a.text("page")


def good_text_op() -> Any:
    scratch = replica(8)
    change = scratch.insert_text("page", 0, "ok")
    assert change is not None
    return change.ops[0][2]


async def test_truncated_msgpack(target: Any) -> None:
    raw = forged([eve(1, (("page2", "text", good_text_op()),))])
    await assert_rejected(target, [raw[:-7]], MalformedInput)


async def test_garbage_bytes(target: Any) -> None:
    await assert_rejected(target, [b"\xc1\x00\xff"], MalformedInput)


async def test_wrong_types_in_envelope(target: Any) -> None:
    fields = envelope_list(forged([eve(1, (("p2", "map", ["s", "k", 1]),))]))
    fields[2] = "1"  # first_seq as a string
    await assert_rejected(target, [msgpack.packb(fields)], MalformedInput)


async def test_wrong_format_version(target: Any) -> None:
    fields = envelope_list(forged([eve(1, (("p2", "map", ["s", "k", 1]),))]))
    fields[0] = 2
    await assert_rejected(target, [msgpack.packb(fields)], MalformedInput)


async def test_wrong_types_in_body_are_signed_but_refused(target: Any) -> None:
    body = zlib.compress(msgpack.packb([[["p2", "map"]], [NOW], [[]], [[[7, "op"]]]]))
    envelope = SegmentEnvelope(
        EVE.node_id, 1, 1, genesis_hash(EVE.node_id), EVE.public_bytes, b"", BODY_ZLIB, body
    )
    from sync.chain import head_message, segment_hash

    envelope.signature = EVE.sign(head_message(EVE.node_id, 1, segment_hash(envelope)))
    await assert_rejected(target, [encode_segment(envelope)], MalformedInput)


async def test_oversized_batch(target: Any) -> None:
    raws = [forged([eve(1, (("p2", "map", ["s", "k", 1]),))])] * 65
    await assert_rejected(target, raws, TooLarge)


async def test_compression_bomb(target: Any) -> None:
    big = "x" * (9 << 20)
    await assert_rejected(target, [forged([eve(1, (("p2", "map", ["s", "k", big]),))])], TooLarge)


async def test_unknown_document_type(target: Any) -> None:
    raw = forged([eve(1, (("p2", "spreadsheet", [1, 2]),))])
    await assert_rejected(target, [raw], UnknownDocumentType)


async def test_document_type_mismatch(target: Any) -> None:
    raw = forged([eve(1, (("page", "map", ["s", "k", 1]),))])  # "page" is a text
    await assert_rejected(target, [raw], DocumentTypeMismatch)


async def test_malformed_op_rolls_back_the_whole_batch(target: Any) -> None:
    _store, b, _a = target
    other = replica(3)
    other.insert_text("page3", 0, "valide")
    other.seal()
    raws = [*other.changes_since({}), forged([eve(1, (("page", "text", ["nonsense"]),))])]
    await assert_rejected(target, raws, MalformedOp)
    assert "page3" not in b.documents()


async def test_bad_signature(target: Any) -> None:
    fields = envelope_list(forged([eve(1, (("p2", "map", ["s", "k", 1]),))]))
    fields[6] = bytes(64)
    await assert_rejected(target, [msgpack.packb(fields)], BadSignature)


async def test_relay_altering_a_change_breaks_the_signature(target: Any) -> None:
    _store, b, a = target
    a.set_key("meta", "titre", "Vrai")
    a.seal()
    fields = envelope_list(a.changes_since(b.version_vector())[0])
    compressed = fields[7] == BODY_ZLIB
    body = zlib.decompress(fields[8]) if compressed else fields[8]
    assert b"Vrai" in body
    body = body.replace(b"Vrai", b"Faux")
    fields[8] = zlib.compress(body) if compressed else body
    await assert_rejected(target, [msgpack.packb(fields)], BadSignature)


async def test_chain_not_starting_at_genesis(target: Any) -> None:
    raw = forged([eve(1, (("p2", "map", ["s", "k", 1]),))], prev=bytes(32))
    await assert_rejected(target, [raw], ChainMismatch)


async def test_sequence_gap_waits_and_overflow_is_refused(target: Any) -> None:
    store, b, _a = target
    dump = await store.async_dump()
    gap = forged([eve(5, (("p2", "map", ["s", "k", 1]),))], prev=bytes(32))
    result = await store.async_apply(b, [gap])
    assert result.applied == [] and result.waiting == 1
    assert (await store.async_dump())["sync_document"] == dump["sync_document"]
    b.buffer_limit = 1
    other_gap = forged([eve(9, (("p2", "map", ["s", "k", 2]),), NOW + 20)], prev=bytes(32))
    await assert_rejected(target, [other_gap], BufferFull)


async def test_replay_is_an_idempotent_no_op(target: Any) -> None:
    store, b, a = target
    dump = await store.async_dump()
    result = await store.async_apply(b, a.changes_since({}) * 2)
    assert result.applied == [] and result.duplicates == 2 * len(a.changes_since({}))
    dump_after = await store.async_dump()
    del dump["sync_meta"], dump_after["sync_meta"]
    assert dump_after == dump


async def test_equivocation_keeps_the_first_and_records_evidence(target: Any) -> None:
    store, b, _a = target
    first = forged([eve(1, (("p2", "map", ["s", "k", "premier"]),))])
    second = forged([eve(1, (("p2", "map", ["s", "k", "second"]),))])
    await store.async_apply(b, [first])
    dump = await store.async_dump()
    result = await store.async_apply(b, [second])
    assert [(e.origin, e.seq) for e in result.equivocations] == [(EVE.node_id, 1)]
    assert isinstance(result.equivocations[0], Equivocation) and result.applied == []
    assert b.value("p2") == {"k": "premier"}
    after = await store.async_dump()
    assert after.pop("sync_evidence") == [(1, EVE.node_id, 1, first, second)]
    dump.pop("sync_evidence")
    assert after == dump
    # a fork further down the chain: a second seq-2 segment linking to a different seq 1
    fork = forged([eve(2, (("p2", "map", ["s", "k", "fork"]),))], prev=bytes(32))
    result = await store.async_apply(b, [forged([eve(1, (("p2", "map", ["s", "k", "x"]),))]), fork])
    assert len(result.equivocations) == 1 and b.value("p2") == {"k": "premier"}
    assert len(await store.async_evidence()) == 2


async def test_equivocation_refuses_only_the_fork_and_applies_the_rest(
    target: Any, tmp_path: Path
) -> None:
    store, b, a = target
    first = forged([eve(1, (("p2", "map", ["s", "k", "premier"]),))])
    await store.async_apply(b, [first])
    # one batch: EVE's fork of seq 1, EVE's seq 2 built on that fork, and good news of A
    fork1 = seal(EVE, genesis_hash(EVE.node_id), [eve(1, (("p2", "map", ["s", "k", "bis"]),))])
    fork2 = seal(EVE, fork1.head_hash, [eve(2, (("p2", "map", ["s", "k", "ter"]),))])
    a.insert_text("page", 0, "Nouveau ")
    a.set_key("meta", "auteur", "Zoé")
    a.seal()
    good = a.changes_since(b.version_vector())
    result = await store.async_apply(b, [fork2.raw, *good, fork1.raw])
    assert [(e.origin, e.seq) for e in result.equivocations] == [(EVE.node_id, 1)]
    assert len(result.applied) == 2
    assert b.text("page") == a.text("page") and b.value("meta") == a.value("meta")
    assert b.value("p2") == {"k": "premier"}
    assert b.version_vector()[EVE.node_id] == 1
    evidence = await store.async_evidence()
    assert evidence[-1] == (EVE.node_id, 1, first, fork1.raw)
    # what was applied is durable, and the evidence with it
    reloaded = await store.async_load(identity(2))
    assert snapshot(reloaded) == snapshot(b)
    assert reloaded.version_vector() == b.version_vector()


async def test_clock_hours_in_the_future(target: Any) -> None:
    future = NOW + ((3 * 3_600_000) << LOGICAL_BITS)
    raw = forged([eve(1, (("p2", "map", ["s", "k", 1]),), future)])
    await assert_rejected(target, [raw], ClockSkew)


async def test_clock_going_backwards_within_an_origin(target: Any) -> None:
    store, b, _a = target
    s1 = seal(EVE, genesis_hash(EVE.node_id), [eve(1, (("p2", "map", ["s", "k", 1]),), NOW)])
    await store.async_apply(b, [s1.raw])
    s2 = seal(EVE, s1.head_hash, [eve(2, (("p2", "map", ["s", "k", 2]),), NOW - 5)])
    await assert_rejected(target, [s2.raw], MalformedInput)
