"""The text CRDT, document level: positions, concurrency, bad ops, compactness."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest

from sync.errors import MalformedInput, MalformedOp
from sync.text import PositionError, TextDoc

FRENCH = "Où est l'écologie ? À côté du café, naïve et sûre."
EMOJI = "🌍 👩‍👩‍👧 🇫🇷 e\u0301"  # globe, a ZWJ family, a flag, e + combining acute


def typed(doc: TextDoc, origin: str, pos: int, text: str) -> list[Any]:
    """Type text one code point at a time, as a keyboard would."""
    ops = []
    for k, ch in enumerate(text):
        op = doc.local_insert(origin, pos + k, ch)
        assert op is not None
        ops.append(op)
    return ops


def test_positions_are_code_points() -> None:
    doc = TextDoc()
    doc.local_insert("A", 0, FRENCH)
    assert doc.value() == FRENCH and len(doc) == len(FRENCH)
    doc.local_insert("A", FRENCH.index("é"), "[")
    doc.local_insert("A", FRENCH.index("é") + 2, "]")
    assert "[é]cologie" in doc.value()
    doc.local_insert("A", 0, EMOJI)
    assert doc.value().startswith(EMOJI)
    # delete exactly the combining accent (one code point) and the flag (two)
    accent = EMOJI.index("\u0301")
    doc.local_delete("A", accent, 1)
    flag = EMOJI.index("🇫🇷")
    doc.local_delete("A", flag, 2)
    assert doc.value().startswith("🌍 👩‍👩‍👧  e[") is False
    assert doc.value().startswith("🌍 👩‍👩‍👧  e")


def test_remote_replica_reads_the_same_text() -> None:
    a, b = TextDoc(), TextDoc()
    ops = [a.local_insert("A", 0, FRENCH), a.local_delete("A", 3, 4)]
    ops += typed(a, "A", 5, EMOJI)
    for op in ops:
        b.apply(op, "A", 0)
    assert b.value() == a.value()


def test_bad_positions_are_refused_plainly() -> None:
    doc = TextDoc()
    doc.local_insert("A", 0, "abc")
    with pytest.raises(PositionError, match="outside"):
        doc.local_insert("A", 4, "x")
    with pytest.raises(PositionError, match="outside"):
        doc.local_delete("A", 2, 2)
    with pytest.raises(PositionError):
        doc.local_insert("A", -1, "x")
    assert doc.local_insert("A", 1, "") is None and doc.local_delete("A", 1, 0) is None


def test_concurrent_typing_at_one_spot_never_interleaves() -> None:
    base = TextDoc()
    seed = base.local_insert("Z", 0, "<>")
    a, b = TextDoc(), TextDoc()
    a.apply(seed, "Z", 0)
    b.apply(seed, "Z", 0)
    ops_a = typed(a, "A", 1, "Bonjour")
    ops_b = typed(b, "B", 1, "Salut")
    for op in ops_b:
        a.apply(op, "B", 0)
    for op in ops_a:
        b.apply(op, "A", 0)
    assert a.value() == b.value()
    assert a.value() in ("<BonjourSalut>", "<SalutBonjour>")


def test_concurrent_typing_after_deletes_never_interleaves() -> None:
    seed_doc = TextDoc()
    seed = seed_doc.local_insert("Z", 0, "début fin")
    a, b = TextDoc(), TextDoc()
    for doc in (a, b):
        doc.apply(seed, "Z", 0)
    ops_a = [a.local_delete("A", 5, 1), *typed(a, "A", 5, " écrit par A ")]
    ops_b = [b.local_delete("B", 5, 1), *typed(b, "B", 5, " écrit par B ")]
    for op in ops_b:
        a.apply(op, "B", 0)
    for op in ops_a:
        b.apply(op, "A", 0)
    assert a.value() == b.value()
    assert " écrit par A " in a.value() and " écrit par B " in a.value()


def test_ops_are_idempotent() -> None:
    a, b = TextDoc(), TextDoc()
    ops = [a.local_insert("A", 0, "salut"), a.local_delete("A", 1, 2)]
    for _ in range(3):
        for op in ops:
            b.apply(op, "A", 0)
    assert b.value() == a.value() == "sut"


def test_typing_and_deleting_stay_compact() -> None:
    doc = TextDoc()
    typed(doc, "A", 0, "x" * 2000)
    assert doc.item_count() == 1, "a typed run is one item"
    for _ in range(1500):  # backspace, key by key
        doc.local_delete("A", len(doc) - 1, 1)
    assert doc.value() == "x" * 500
    assert doc.item_count() == 2, "one live run and one tombstone"
    paste = TextDoc()
    paste.local_insert("A", 0, "un paragraphe entier " * 200)
    paste.local_delete("A", 0, len(paste))
    assert paste.item_count() == 1 and paste.value() == ""


def test_state_round_trip_keeps_tombstones() -> None:
    a = TextDoc()
    a.local_insert("A", 0, FRENCH + EMOJI)
    a.local_delete("A", 2, 10)
    copy = TextDoc.decode_state(a.encode_state())
    assert copy.value() == a.value()
    # an op that refers to a deleted character still integrates on the copy
    other = TextDoc.decode_state(a.encode_state())
    op = other.local_insert("B", 2, "ici")
    copy.apply(op, "B", 0)
    a.apply(op, "B", 0)
    assert copy.value() == a.value() == other.value()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x93\x01\x90\x91\x01",
        b"\x93\x02\x90\x90",
        b"\x93\x01\x91\xa1A\x96\x00\x00\x02\xa1x\xc0\xc0",
        # format 2 (columns): origin index outside the table, columns of unequal length,
        # a neighbour origin without a counter, content longer than its length, bad types
        msgpack.packb([2, ["A"], [1], [0], [1], ["x"], [-1], [-1], [-1], [-1]]),
        msgpack.packb([2, ["A"], [0, 0], [0], [1], ["x"], [-1], [-1], [-1], [-1]]),
        msgpack.packb([2, ["A"], [0], [0], [1], ["x"], [0], [-1], [-1], [-1]]),
        msgpack.packb([2, ["A"], [0], [0], [1], ["xy"], [-1], [-1], [-1], [-1]]),
        msgpack.packb([2, ["A"], [0], ["0"], [1], ["x"], [-1], [-1], [-1], [-1]]),
        msgpack.packb(
            [2, ["A"], [0, 0], [0, 0], [1, 1], ["x", "y"], [-1] * 2, [-1] * 2, [-1] * 2, [-1] * 2]
        ),  # one id twice
        msgpack.packb([2, [1], [0], [0], [1], ["x"], [-1], [-1], [-1], [-1]]),
        # format 3 (one text, signed lengths): text longer or shorter than the visible
        # lengths, a zero length, one origin column missing, no origin yet nil columns,
        # columns of unequal length, a text that is not a string, a bad origin index
        msgpack.packb([3, ["A"], None, [0], [1], "xy", None, [-1], None, [-1]]),
        msgpack.packb([3, ["A"], None, [0, 1], [2, -1], "x", None, [-1, 1], None, [-1, -1]]),
        msgpack.packb([3, ["A"], None, [0], [0], "", None, [-1], None, [-1]]),
        msgpack.packb([3, ["A", "B"], None, [0], [1], "x", [-1], [-1], [-1], [-1]]),
        msgpack.packb([3, [], None, [], [], "", None, [], None, []]),
        msgpack.packb([3, ["A"], None, [0], [1, 1], "xy", None, [-1], None, [-1]]),
        msgpack.packb([3, ["A"], None, [0], [1], ["x"], None, [-1], None, [-1]]),
        msgpack.packb([3, ["A", "B"], [2], [0], [1], "x", [-1], [-1], [-1], [-1]]),
        msgpack.packb([3, ["A"], None, [0], [1.0], "x", None, [-1], None, [-1]]),
    ],
)
def test_bad_state_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        TextDoc.decode_state(data)


BAD_OPS: list[Any] = [
    None,
    [],
    ["z"],
    ["i", 0, "x", None],
    ["i", -1, "x", None, None],
    ["i", 0, "", None, None],
    ["i", 0, b"x", None, None],
    ["i", 0, "x", ["A"], None],
    ["i", 0, "x", ["nobody", 3], None],
    ["i", 0, "x", None, ["A", 99]],
    ["i", True, "x", None, None],
    ["d"],
    ["d", [["A", 0]]],
    ["d", [["A", 0, 0]]],
    ["d", [["A", 0, 999]]],
    ["d", [["nobody", 0, 1]]],
    ["d", "A"],
    ["i", 2, "x", None, None],  # B's counters start at 0: skipping 0..1 is refused
    ["i", 0, "x", ["A", 3], None],  # A's ids are 0..2
]


@pytest.mark.parametrize("op", BAD_OPS)
def test_malformed_ops_change_nothing(op: Any) -> None:
    doc = TextDoc()
    doc.local_insert("A", 0, "abc")
    doc.local_delete("A", 1, 1)
    before = doc.encode_state()
    with pytest.raises(MalformedOp):
        doc.apply(op, "B", 0)
    assert doc.encode_state() == before


def test_an_op_reusing_known_ids_changes_nothing() -> None:
    a, b = TextDoc(), TextDoc()
    b.apply(a.local_insert("A", 0, "abc"), "A", 0)
    before = b.encode_state()
    b.apply(["i", 1, "zz", None, None], "A", 0)  # ids A:1-2 exist: a replay, ignored
    assert b.encode_state() == before and b.value() == "abc"


# Written by the engine before states were columnar (format 1, one row per item):
# "Bonjour à tous 🌍", "njo" deleted by A, then B typed "é" + combining acute inside.
FORMAT_1_STATE = bytes.fromhex(
    "930192a141a142dc001e000002a2426fc0c0000203c0920001c0000502a27572920004c0010002a4c3a9"
    "cc81920006920007000709ad20c3a020746f757320f09f8c8d920006c0"
)


# The same document written by the engine before states held one text (format 2).
FORMAT_2_STATE = bytes.fromhex(
    "9a0292a141a14295000000010095000205000795020302020995a2426fc0a27572a4c3a9cc81ad20c3a020"
    "746f757320f09f8c8d95ff0000000095ff0104060695ffffff00ff95ffffff07ff"
)


@pytest.mark.parametrize("state", [FORMAT_1_STATE, FORMAT_2_STATE], ids=["format 1", "format 2"])
def test_an_older_state_still_loads_and_takes_ops(state: bytes) -> None:
    doc = TextDoc.decode_state(state)
    assert doc.value() == "Bouré\u0301 à tous 🌍"
    again = TextDoc.decode_state(doc.encode_state())  # rewritten in the current format
    assert again.value() == doc.value() and again.item_count() == doc.item_count()
    # the same document, whichever format it was read from
    assert doc.encode_state() == TextDoc.decode_state(FORMAT_1_STATE).encode_state()
    for copy in (doc, again):
        copy.apply(["i", 0, "!", ["A", 15], None], "C", 0)
        copy.apply(["d", [["B", 0, 2]]], "B", 0)
    assert doc.value() == again.value() == "Bour à tous 🌍!"


@pytest.mark.parametrize("origins", [["A"], ["A", "B"]])
def test_a_state_round_trip_keeps_every_item(origins: list[str]) -> None:
    # one origin: the origin columns are left out of the state; two: they are written
    doc = TextDoc()
    for k, origin in enumerate(origins * 3):
        doc.local_insert(origin, k, f"é{k}🌍\u0301")
    doc.local_delete(origins[0], 1, 3)
    state = doc.encode_state()
    assert msgpack.unpackb(state)[0] == 3
    assert (msgpack.unpackb(state)[2] is None) == (len(origins) == 1)
    copy = TextDoc.decode_state(state)
    assert copy.value() == doc.value() and copy.encode_state() == state
    assert copy.item_count() == doc.item_count()
    copy.apply(doc.local_insert("Z", 2, "ici"), "Z", 0)
    assert copy.value() == doc.value()


def test_an_insert_with_its_origins_swapped_lands_alike_in_any_order() -> None:
    # A broken or hostile box signs an insert whose right origin ('b') comes before its
    # left one ('f').  Replicas that cut "abcdefgh" differently (one saw C type then
    # delete an "X") used to place it differently: they must agree.
    first = TextDoc()
    typed_op = first.local_insert("A", 0, "abcdefgh")
    assert typed_op is not None
    other = TextDoc()
    other.apply(typed_op, "A", 0)
    concurrent = [other.local_insert("C", 3, "X"), other.local_delete("C", 3, 1)]
    swapped = ["i", 0, "ZZ", ["A", 5], ["A", 1]]
    orders = [[*concurrent, swapped], [swapped, *concurrent]]
    values = set()
    for order in orders:
        doc = TextDoc()
        doc.apply(typed_op, "A", 0)
        for op in order:
            doc.apply(op, "H" if op is swapped else "C", 0)
        values.add(doc.value())
    assert len(values) == 1 and "ZZ" in values.pop()


class _WithoutDeleteFastPaths(TextDoc):
    """The text CRDT with its delete fast paths off: every delete cuts then merges."""

    def _delete_into_tombstone(self, blk: Any, i: int, off: int, length: int) -> bool:
        return False

    def _hollow(self, blk: Any, i: int, offset: int, length: int) -> bool:
        return False


def _index_holds_every_item(doc: TextDoc) -> bool:
    """Every id-index entry names the block holding that item, and every item has one."""
    fresh = TextDoc.decode_state(doc.encode_state())
    for origin, (starts, blocks) in doc._runs.items():
        if starts != fresh._runs[origin][0]:
            return False
        for start, blk in zip(starts, blocks, strict=True):
            if not any(c == start and o == origin for o, c in zip(blk.o, blk.c, strict=True)):
                return False
    return set(doc._runs) == set(fresh._runs)


@pytest.mark.parametrize("seed", range(40))
def test_backspacing_gives_the_items_cutting_and_merging_give(seed: int) -> None:
    # typing, backspacing and deleting forwards near the cursor (the fast paths: a
    # tombstone grows over the deleted characters) must leave the very items, ids,
    # neighbours and index that cutting them off then merging them into it leaves
    rng = random.Random(seed)
    fast, slow = TextDoc(), _WithoutDeleteFastPaths()
    cursor = 0
    for _step in range(300):
        length = len(fast.value())
        if length and rng.random() < 0.5:
            near = min(max(cursor - rng.randint(0, 1), 0), length - 1)  # back or forwards
            pos = near if rng.random() < 0.7 else rng.randrange(length)
            count = 1 if rng.random() < 0.7 else rng.randint(1, min(4, length - pos))
            ops = [doc.local_delete("A", pos, count) for doc in (fast, slow)]
            cursor = pos
        else:
            pos = min(cursor if rng.random() < 0.7 else rng.randint(0, length), length)
            text = rng.choice(["a", "bc", "é", "🌍", "e\u0301", "xyz"])
            ops = [doc.local_insert("A", pos, text) for doc in (fast, slow)]
            cursor = pos + len(text)
        assert ops[0] == ops[1]
    assert fast.value() == slow.value()
    assert fast.encode_state() == slow.encode_state()
    assert _index_holds_every_item(fast)


@pytest.mark.parametrize("seed", range(20))
def test_remote_deletes_inside_runs_give_the_items_cutting_gives(seed: int) -> None:
    # another box's deletions, most of them inside one typed run (the fast path cuts the
    # run in three at once), must leave the very items, ids and index that cutting
    # twice then deleting the middle leaves, whether the ranges span items or not
    rng = random.Random(seed)
    author = TextDoc()
    ops: list[tuple[str, Any]] = []
    for _step in range(200):
        length = len(author.value())
        who = rng.choice("AB")
        if length > 2 and rng.random() < 0.4:
            pos = rng.randrange(length - 1)
            op = author.local_delete(who, pos, rng.randint(1, min(6, length - pos)))
        else:
            text = rng.choice(["mot ", "été ", "🌍🌱", "e\u0301", "xyz"])
            op = author.local_insert(who, rng.randint(0, length), text)
        ops.append((who, op))
    fast, slow = TextDoc(), _WithoutDeleteFastPaths()
    for who, op in ops:
        for doc in (fast, slow):
            doc.apply(op, who, 0)
    assert fast.value() == slow.value() == author.value()
    assert fast.encode_state() == slow.encode_state()
    assert _index_holds_every_item(fast)


def test_backspacing_into_a_tombstone_with_another_right_origin_cuts_then_keeps_both() -> None:
    # 'c' was typed after 'b' once B's 'X' sat there: it is not part of the run "ab"
    # (its right origin is X), so deleting 'b' must not fold 'b' into c's tombstone
    docs = (TextDoc(), _WithoutDeleteFastPaths())
    for doc in docs:
        doc.local_insert("A", 0, "ab")
        doc.apply(["i", 0, "X", ["A", 1], None], "B", 0)
        doc.local_insert("A", 2, "c")
        doc.local_delete("A", 2, 1)
        assert doc.local_delete("A", 1, 1) == ["d", [["A", 1, 1]]]
        assert doc.value() == "aX"
    assert docs[0].encode_state() == docs[1].encode_state()
    assert _index_holds_every_item(docs[0])
