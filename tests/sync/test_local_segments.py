"""Segments sealed from local edits: the exact wire bytes are pinned.

Peers hash and relay segments byte for byte, so the columnar encoding of local changes must
never drift.  The digest below was computed with the reference encoder (the generic
`encode_segment_body` over retained Change tuples) before local changes were accumulated
column-wise; any change to it is a wire-format change (see sync/PROTOCOL.md).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import zlib

import msgpack
import pytest

from sync.chain import open_segment
from sync.codec import ChangeColumns, Limits, encode_segment_body
from sync.errors import UnencodableValue
from sync.hlc import HybridClock
from sync.replica import Replica
from tests.sync.replicas import identity

PINNED = "c815f2296380619ac917377b1748b867e6bb6234aad3406240e4d079481ec5ac"


def fixed_clock() -> HybridClock:
    ticks = itertools.count(1_700_000_000_000)
    return HybridClock(wall=lambda: next(ticks) // 3)


def editing_session(rng: random.Random, n: int) -> list[list[tuple[int, int, str]]]:
    """`n` editor transactions over a growing text: typing runs, deletes, multi-patch edits."""
    length = 0
    cursor = 0
    out: list[list[tuple[int, int, str]]] = []
    for _ in range(n):
        patches: list[tuple[int, int, str]] = []
        for _ in range(1 if rng.random() < 0.9 else rng.randint(2, 4)):
            if rng.random() < 0.1:
                cursor = rng.randint(0, length)
            if length and rng.random() < 0.3:
                delete = min(rng.randint(1, 5), length - cursor) if cursor < length else 0
                if delete == 0 and cursor:
                    cursor -= 1
                    delete = 1
                patches.append((cursor, delete, rng.choice(["", "", "é", "ab"])))
                length += len(patches[-1][2]) - delete
                cursor += len(patches[-1][2])
            else:
                text = rng.choice(["a", "b", " ", "😀", "xyz"])
                patches.append((cursor, 0, text))
                length += len(text)
                cursor += len(text)
        out.append(patches)
    return out


def mixed_workload(seal_every: int) -> list[bytes]:
    rng = random.Random(seal_every)
    a = Replica(identity(1), clock=fixed_clock(), seal_every=seal_every)
    b = Replica(identity(2), clock=fixed_clock())
    for n, patches in enumerate(editing_session(rng, 6000)):
        if len(patches) == 1:
            a.splice_text("page", *patches[0])
        else:
            a.edit_text("page", patches)
        if n % 397 == 0:
            value = rng.choice([1.5, None, True, {"x": [1, "y"]}, b"zz", -5, 2**40, "s", [1, [2]]])
            a.set_key("meta", f"k{n % 7}", value)
            a.add_element("tags", rng.choice(["a", "b", 3, b"q"]))
            if n % 3 == 0:
                a.remove_element("tags", "a")
            a.insert_text(f"doc{n % 5}", 0, "bonjour " * (n % 4 + 1))
            a.delete_key("meta", "k1")
        if n % 1999 == 0:  # remote progress: the next local change carries deps
            b.insert_text("page2", 0, f"from b {n}")
            b.seal()
            a.apply_segments(b.changes_since(a.version_vector()))
        if n % 2501 == 0:
            a.replace_text("doc1", f"tout nouveau {n}")
            a.seal()
    # a delete of many ranges: its shape is too long and travels as one opaque value
    a.insert_text("long", 0, "abcdefghij" * 200)
    for i in range(0, 190, 2):
        a.insert_text("long", i * 10 + 3, "Z")
    a.delete_text("long", 0, 1800)
    a.seal()
    return a.changes_since({})


def oversized_workload() -> list[bytes]:
    """Changes too big for one batch frame together: the seal halves the run."""
    rng = random.Random(1)
    big = Replica(identity(3), clock=fixed_clock())
    for _ in range(6):
        text = "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(120_000))
        big.insert_text("big", 0, text)
    return [s.raw for s in big.seal()]


def test_local_segments_keep_their_pinned_bytes() -> None:
    digest = hashlib.sha256()
    for seal_every in (4096, 7, 1000):
        for raw in mixed_workload(seal_every):
            digest.update(raw)
    oversized = oversized_workload()
    assert len(oversized) == 2
    for raw in oversized:
        digest.update(raw)
    assert digest.hexdigest() == PINNED


def test_a_local_segment_re_encodes_to_its_own_body() -> None:
    # the receiver's view: decoding a sealed body and encoding the changes again is exact
    for raw in mixed_workload(1000):
        segment = open_segment(raw, Limits())
        codec, body = encode_segment_body(segment.changes)
        assert (codec, body) == (segment.envelope.codec, segment.envelope.body)


def test_unsealed_changes_are_rebuilt_for_history_and_past_values() -> None:
    a = Replica(identity(1), clock=fixed_clock())
    made = [
        a.insert_text("p", 0, "un"),
        a.set_key("m", "k", {"x": 1}),
        a.splice_text("p", 2, 0, " deux"),
        a.splice_text("p", 0, 2, "UN"),
    ]
    assert a.pending_count() == 4
    assert a.pending == made  # rebuilt from the columns, equal to what the calls returned
    history = a.history("p")
    assert [h.seq for h in history] == [1, 3, 4]
    assert [a.value_at("p", h.version) for h in history] == ["un", "un deux", "UN deux"]
    a.seal()
    assert a.pending == [] and a.pending_count() == 0
    assert [a.value_at("p", h.version) for h in a.history("p")] == ["un", "un deux", "UN deux"]


def test_lowering_seal_every_before_sealing_cuts_the_same_segments() -> None:
    late = Replica(identity(1), clock=fixed_clock(), seal_every=100)
    early = Replica(identity(1), clock=fixed_clock(), seal_every=3)
    for r in (late, early):
        for i in range(10):
            r.insert_text("p", i, "abcdefghij"[i])
    late.seal_every = 3
    late.seal()
    early.seal()
    assert [s.envelope.count for s in late.logs[late.node_id].segments] == [3, 3, 3, 1]
    assert late.changes_since({}) == early.changes_since({})


def test_typing_keeps_no_collector_tracked_object_per_change() -> None:
    # The point of accumulating columns: unsealed changes are ints and strs in a few
    # lists, not one Change, op list and tuple each for the cyclic collector to walk.
    import gc

    a = Replica(identity(1), clock=fixed_clock())
    a.insert_text("p", 0, "début ")
    gc.collect()
    before = len(gc.get_objects())
    for i in range(3000):
        a.insert_text("p", 6 + i, "x")  # typing on: the text run grows, no new item
    after = len(gc.get_objects())
    assert a.pending_count() == 3001
    assert after - before < 100, after - before


def test_int_deltas_beyond_msgpack_range_travel_raw() -> None:
    # 2**64 - 1 then -2**63: the delta does not fit a msgpack int, the column goes as is
    a, b = Replica(identity(1), clock=fixed_clock()), Replica(identity(2))
    for value in (2**64 - 1, -(2**63), 7):
        a.set_key("m", "k", value)
        a.set_key("m", "other", value)
    [segment] = a.seal()
    b.apply_segments([segment.raw])
    assert b.value("m") == {"k": 7, "other": 7}
    columns = ChangeColumns.of(open_segment(segment.raw, Limits()).changes)
    assert segment.envelope.body == zlib.compress(msgpack.packb(columns.body()), 6)
    int_columns = [c for shape in columns.body()[5][2] for c in shape if c[0] != 2]
    assert [0, [2**64 - 1, 2**64 - 1, -(2**63), -(2**63), 7, 7]] in int_columns


def test_names_and_values_a_peer_would_refuse_are_refused_at_the_edit() -> None:
    # a peer refuses int map keys and over-long names: such a change would block the
    # whole segment holding it, so the edit itself is refused and nothing changes
    a = Replica(identity(1), clock=fixed_clock())
    with pytest.raises(UnencodableValue):
        a.insert_text("p" * 600, 0, "x")
    with pytest.raises(UnencodableValue):
        a.set_key("m", "k", {1: "un"})
    assert a.pending == [] and a.documents() == {} and a.version_vector() == {}
