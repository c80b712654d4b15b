"""The TXT advert codec and instance names: pure functions, tested exhaustively."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshportal.identity import node_id_from_public_key
from meshportal.mesh.advert import (
    Advert,
    AdvertError,
    decode_txt,
    encode_txt,
    instance_name,
    vector_digest,
)

NODE = node_id_from_public_key(b"k" * 32)


def _wire(txt: dict[str, str]) -> dict[bytes, bytes | None]:
    return {k.encode(): v.encode() for k, v in txt.items()}


@given(
    name=st.text(max_size=80),
    port=st.integers(1, 65535),
    vector=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(0, 2**40), max_size=5),
    pairing=st.booleans(),
)
@settings(max_examples=60)
def test_an_advert_survives_the_round_trip(
    name: str, port: int, vector: dict[str, int], pairing: bool
) -> None:
    advert = Advert(NODE, name[:63], 1, port, vector_digest(vector), pairing)
    decoded = decode_txt(_wire(encode_txt(advert)))
    assert decoded.node_id == NODE and decoded.sync_port == port
    assert decoded.digest == advert.digest and decoded.pairing is pairing


def test_the_digest_ignores_order_and_sees_any_change() -> None:
    assert vector_digest({"a": 1, "b": 2}) == vector_digest({"b": 2, "a": 1})
    assert vector_digest({"a": 1, "b": 2}) != vector_digest({"a": 1, "b": 3})
    assert vector_digest({}) != vector_digest({"a": 0})
    assert len(vector_digest({})) == 16


GOOD = {"id": NODE, "v": "1", "port": "7717", "vv": "0" * 16}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": "garbage"}, "not a valid node id"),
        ({"id": NODE[:-1] + ("A" if NODE[-1] != "A" else "B")}, "not a valid node id"),
        ({"v": "one"}, "integers"),
        ({"port": "0"}, "out of range"),
        ({"port": "70000"}, "out of range"),
        ({"vv": "XYZ"}, "not a digest"),
        ({"id": None}, "missing"),
    ],
)
def test_foreign_or_damaged_records_are_refused(
    change: dict[str, str | None], problem: str
) -> None:
    txt = {**GOOD, **change}
    wire = {k.encode(): v.encode() for k, v in txt.items() if v is not None}
    with pytest.raises(AdvertError, match=problem):
        decode_txt(wire)


def test_non_utf8_is_refused() -> None:
    wire = _wire(GOOD)
    wire[b"id"] = b"\xff\xfe"
    with pytest.raises(AdvertError, match="UTF-8"):
        decode_txt(wire)


def test_instance_names_are_stable_unique_and_short() -> None:
    assert instance_name("Bibliothèque", NODE) == instance_name("Bibliothèque", NODE)
    other = node_id_from_public_key(b"j" * 32)
    assert instance_name("booture", NODE) != instance_name("booture", other)
    long = instance_name("é" * 100, NODE)
    assert len(long.encode()) <= 63 and long.endswith(NODE.replace("-", "")[:6].lower())
    assert instance_name("...", NODE).startswith("booture-")
