"""Pairing codes and frames: the pure parts."""

from __future__ import annotations

import asyncio

import pytest

from meshportal.mesh import framing, pairing


def test_codes_are_short_readable_and_normalised() -> None:
    codes = {pairing.new_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert not set(code) & set("01OIL")
        assert pairing.normalise_code(code.lower().replace("-", " ")) == code


@pytest.mark.parametrize("bad", ["", "ABCD", "ABCDE-FGHJK-L", "ABCDE-FGHJ!", "ABCDE-FGHJL"])
def test_bad_codes_are_refused_plainly(bad: str) -> None:
    with pytest.raises(pairing.PairingError, match="not a pairing code"):
        pairing.normalise_code(bad)


def test_the_two_proofs_differ_and_bind_both_keys() -> None:
    key = pairing.code_key("ABCDE-FGHJK")
    a, b, nonces = b"a" * 32, b"b" * 32, b"n" * 64
    assert pairing.proof(key, b"A", a, b, nonces) != pairing.proof(key, b"B", a, b, nonces)
    assert pairing.proof(key, b"B", a, b, nonces) != pairing.proof(key, b"B", b, a, nonces)
    assert pairing.code_key("ABCDE-FGHJK") != pairing.code_key("ABCDE-FGHJM")


def test_an_offer_expires() -> None:
    offer = pairing.Offer.create(0.01)
    assert offer.state() in ("waiting", "expired")
    offer.expires = 0
    assert offer.state() == "expired" and not offer.open


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frames_round_trip() -> None:
    message = {"t": "x", "blob": b"\x00" * 1000}
    frame = framing.encode_frame(framing.pack(message))
    assert framing.unpack(await framing.read_frame(_reader(frame))) == message


async def test_an_oversized_frame_is_refused_before_reading() -> None:
    with pytest.raises(framing.FrameError, match="exceeds"):
        await framing.read_frame(_reader((1000).to_bytes(4, "big") + b"x" * 1000), max_size=999)
    with pytest.raises(framing.FrameError, match="exceeds"):
        framing.encode_frame(b"x" * 11, max_size=10)


async def test_a_truncated_frame_is_refused() -> None:
    with pytest.raises(framing.FrameError, match="ended inside"):
        await framing.read_frame(_reader((10).to_bytes(4, "big") + b"abc"))


@pytest.mark.parametrize(
    "payload", [b"\xc1", framing.pack({"a": 1})[:-1] + b"", b"\x93\x01\x02\x03"]
)
def test_non_maps_and_garbage_are_refused(payload: bytes) -> None:
    with pytest.raises(framing.FrameError):
        framing.unpack(payload)
