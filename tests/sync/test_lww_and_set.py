from __future__ import annotations

from typing import Any

import pytest

from sync.awset import AwSet
from sync.documents import DOC_TYPES, new_document
from sync.errors import MalformedInput, MalformedOp, UnknownDocumentType
from sync.lww import LwwMap


def test_last_writer_wins_whatever_the_order() -> None:
    ops = [
        (["s", "titre", "Accueil"], "A", 10),
        (["s", "titre", "Bienvenue"], "B", 12),
        (["x", "titre"], "C", 11),
        (["s", "titre", "Égalité"], "A", 12),
    ]
    results = set()
    for order in (ops, ops[::-1], ops[1:] + ops[:1]):
        doc = LwwMap()
        for op, origin, hlc in order:
            doc.apply(op, origin, hlc)
        results.add(repr(doc.value()))
    # hlc 12 ties between A and B; the origin breaks it the same way everywhere
    assert results == {repr({"titre": "Bienvenue"})}


def test_delete_then_later_set() -> None:
    doc = LwwMap()
    doc.local_set("A", 1, "k", 1)
    assert doc.local_delete("A", 2, "k") == ["x", "k"]
    assert doc.value() == {}
    doc.apply(["s", "k", 2], "B", 1)  # older than the delete: stays deleted
    assert doc.value() == {}
    doc.local_set("A", 4, "k", {"nested": [1, "é"]})
    copy = LwwMap.decode_state(doc.encode_state())
    assert copy.value() == {"k": {"nested": [1, "é"]}}


def test_add_wins_over_concurrent_remove() -> None:
    a, b = AwSet(), AwSet()
    add = a.local_add("A", 1, "écologie")
    b.apply(add, "A", 1)
    remove = b.local_remove("B", 2, "écologie")
    again = a.local_add("A", 3, "écologie")  # concurrent with the remove
    a.apply(remove, "B", 2)
    b.apply(again, "A", 3)
    assert a.value() == b.value() == frozenset({"écologie"})
    b.apply(add, "A", 1)  # a late duplicate of a removed add stays removed
    assert b.value() == frozenset({"écologie"})
    final = a.local_remove("A", 4, "écologie")
    b.apply(final, "A", 4)
    assert a.value() == b.value() == frozenset()
    assert AwSet.decode_state(b.encode_state()).value() == frozenset()


@pytest.mark.parametrize(
    ("doc_type", "op"),
    [
        ("map", ["s", 1, 2]),
        ("map", ["s", "k"]),
        ("map", ["q", "k"]),
        ("map", "s"),
        ("set", ["a", 1.5]),
        ("set", ["a", True]),
        ("set", ["r", "x", [["A"]]]),
        ("set", ["r", "x"]),
        ("set", []),
    ],
)
def test_malformed_ops_change_nothing(doc_type: str, op: Any) -> None:
    doc: Any = new_document(doc_type)
    doc.apply(["s", "k", "v"] if doc_type == "map" else ["a", "x"], "A", 5)
    before = doc.encode_state()
    with pytest.raises(MalformedOp):
        doc.apply(op, "B", 6)
    assert doc.encode_state() == before


def test_registry() -> None:
    assert set(DOC_TYPES) == {"text", "map", "set"}
    with pytest.raises(UnknownDocumentType):
        new_document("spreadsheet")
    for cls in DOC_TYPES.values():
        with pytest.raises(MalformedInput):
            cls.decode_state(b"\x92\x07\x90")
