from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.columnar import decode_ops, encode_ops
from sync.errors import MalformedInput

LEAF = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.text(max_size=5),
    st.sampled_from(["ORIGIN-A", "ORIGIN-B"]),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63), max_size=2),
)
OP = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(OP, max_size=40))
def test_round_trip_through_msgpack(ops: list[Any]) -> None:
    wire = msgpack.packb(encode_ops(ops))
    assert decode_ops(msgpack.unpackb(wire, strict_map_key=False), len(ops)) == msgpack.unpackb(
        msgpack.packb(ops), strict_map_key=False
    )


def test_typing_history_is_almost_free() -> None:
    ops = [["i", ["ORIGIN-A", n], "x"] for n in range(1000)]
    encoded = encode_ops(ops)
    assert encoded[0] == ["[s[si]s]"]
    assert encoded[2][0][2] == [1, [0] + [1] * 999]  # counters become a constant delta column


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        ("nope", 0),
        ([["i"], [0, 0], [[[1, [5]]]]], 2),  # a column shorter than its uses
        ([["i"], [1], [[[1, [5]]]]], 1),  # shape id out of range
        ([["[i"], [0], [[[1, [5]]]]], 1),  # unbalanced signature
        ([["ix"], [0], [[[1, [5]]]]], 1),  # unknown character
        ([["i"], [0], [[[7, [5]]]]], 1),  # unknown column kind
        ([["s"], [0], [[[2, ["a"], [3]]]]], 1),  # table index outside the table
        ([["s"], [0], [[[2, ["a"], [-1]]]]], 1),  # negative table index
        ([["i"], [0], [[[1, ["5"]]]]], 1),  # a delta that is not an int
        ([["i]"], [0], [[[1, [5]]]]], 1),
        ([["[" * 300 + "]" * 300], [0], [[]]], 1),  # too long
    ],
)
def test_malformed_columns_are_refused(raw: Any, count: int) -> None:
    with pytest.raises(MalformedInput):
        decode_ops(raw, count)
