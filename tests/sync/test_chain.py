import msgpack
import pytest

from sync.chain import genesis_hash, open_segment, seal, verify_head
from sync.change import Change
from sync.codec import Limits, decode_change, encode_change
from sync.errors import BadSignature, MalformedInput, TooLarge
from tests.sync.replicas import identity

ME = identity(1)


def changes(n: int, first: int = 1) -> list[Change]:
    return [
        Change(ME.node_id, s, 1000 + s, (), (("page", "text", ["i", s, "é👋"]),))
        for s in range(first, first + n)
    ]


def test_seal_then_open_round_trips() -> None:
    sealed = seal(ME, genesis_hash(ME.node_id), changes(50))
    opened = open_segment(sealed.raw, Limits())
    assert opened.changes == changes(50)
    assert opened.head_hash == sealed.head_hash
    assert (opened.first_seq, opened.last_seq) == (1, 50)


def test_canonical_change_round_trips_and_is_versioned() -> None:
    change = Change(ME.node_id, 3, 99, (("B", 2), ("C", 1)), (("p", "map", ["s", "k", 1.5]),))
    data = encode_change(change)
    assert msgpack.unpackb(data)[0] == 1
    assert decode_change(data) == change
    with pytest.raises(MalformedInput, match="format"):
        decode_change(msgpack.packb([2, *msgpack.unpackb(data)[1:]]))
    with pytest.raises(MalformedInput, match="sorted"):
        decode_change(encode_change(change._replace(deps=(("C", 1), ("B", 2)))))


def test_every_flipped_byte_of_a_segment_is_detected() -> None:
    raw = seal(ME, genesis_hash(ME.node_id), changes(3)).raw
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        with pytest.raises((MalformedInput, BadSignature)):
            open_segment(bytes(tampered), Limits())


def test_a_head_signed_by_another_key_is_refused() -> None:
    segment = seal(ME, genesis_hash(ME.node_id), changes(2))
    other = identity(2)
    segment.envelope.public_key = other.public_bytes
    with pytest.raises(BadSignature, match="belongs to"):
        verify_head(segment.envelope)


def test_segment_size_limits() -> None:
    raw = seal(ME, genesis_hash(ME.node_id), changes(20)).raw
    with pytest.raises(TooLarge):
        open_segment(raw, Limits(max_segment_changes=10))
    with pytest.raises(TooLarge):
        open_segment(raw, Limits(max_body_bytes=100))
