"""Byte-for-byte check of the test vectors published in sync/PROTOCOL.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sync.chain import genesis_hash, head_message, seal
from sync.change import Change
from sync.codec import Limits, decode_change, encode_change
from sync.frames import ACK, BATCH, DONE, ERROR, HELLO, MORE, VV, encode_frame
from sync.identity import Identity, parse_node_id
from sync.protocol import encode_vv, origin_key, vv_digest

SPEC = Path(__file__).resolve().parents[2] / "sync" / "PROTOCOL.md"
NODE_ID = "GR2Q7GF-5LH6PZD-FDNURNK-VPUTHPX-QVJJFVB-FHBYSVU-7IKDGKB-PTZF7A6"


def published() -> dict[str, bytes]:
    text = SPEC.read_text(encoding="utf-8")
    blocks = re.findall(r"```text\nvector: ([\w-]+)\n([0-9a-f\n]+)```", text)
    return {name: bytes.fromhex(hexdata.replace("\n", "")) for name, hexdata in blocks}


def computed() -> dict[str, bytes]:
    me = Identity.from_private_bytes(b"\x01" * 32)
    assert me.node_id == NODE_ID == parse_node_id(NODE_ID.lower())
    change = Change(
        me.node_id,
        1,
        1_700_000_000_000 << 16,
        (),
        (("accueil", "map", ["s", "titre", "Bienvenue"]),),
    )
    genesis = genesis_hash(me.node_id)
    segment = seal(me, genesis, [change])
    vv = {me.node_id: 1}
    digest = vv_digest(vv)
    return {
        "public-key": me.public_bytes,
        "change": encode_change(change),
        "genesis": genesis,
        "segment-body": segment.envelope.body,
        "head-hash": segment.head_hash,
        "head-message": head_message(me.node_id, 1, segment.head_hash),
        "signature": segment.envelope.signature,
        "segment": segment.raw,
        "vv-digest": digest,
        "origin-key": origin_key(me.node_id),
        "frame-hello": encode_frame([HELLO, 2, 2, 1, "", 4 << 20, 4, digest]),
        "frame-hello-announcing": encode_frame([HELLO, 2, 2, 1, me.node_id, 4 << 20, 4, digest]),
        "frame-vv": encode_frame([VV, encode_vv(vv)]),
        "frame-batch": encode_frame([BATCH, 1, [segment.raw]]),
        "frame-ack": encode_frame([ACK, 1]),
        "frame-done": encode_frame([DONE]),
        "frame-error": encode_frame([ERROR, 2, "version"]),
        "frame-more": encode_frame([MORE]),
    }


def test_every_vector_is_published() -> None:
    assert set(published()) == set(computed())


@pytest.mark.parametrize("name", sorted(computed()))
def test_vector_matches_byte_for_byte(name: str) -> None:
    assert published()[name] == computed()[name], name


def test_published_segment_decodes_to_the_published_change() -> None:
    from sync.chain import open_segment

    vectors = published()
    segment = open_segment(vectors["segment"], Limits())
    assert [encode_change(c) for c in segment.changes] == [vectors["change"]]
    assert decode_change(vectors["change"]).origin == NODE_ID
