"""Length-prefixed msgpack frames and the message shapes of the sync protocol (v2).

A frame is a 4-byte big-endian unsigned length followed by that many bytes of msgpack
holding one message: an array whose first element is the message type.  A length above the
receiver's maximum is refused as soon as the 4-byte prefix is read, before any allocation.
See sync/PROTOCOL.md for every message.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from sync.codec import unpack
from sync.errors import MalformedInput, TooLarge

__all__ = [
    "ACK",
    "BATCH",
    "DEFAULT_MAX_FRAME",
    "DONE",
    "ERROR",
    "HELLO",
    "MORE",
    "VV",
    "FrameDecoder",
    "encode_frame",
    "parse_message",
]

HELLO, VV, BATCH, ACK, DONE, ERROR, MORE = 0, 1, 2, 3, 4, 5, 6
DEFAULT_MAX_FRAME = 4 << 20
_PREFIX = struct.Struct(">I")

# message type -> (name, element count, element type checks after the type code)
_SHAPES: dict[int, tuple[str, tuple[type | tuple[type, ...], ...]]] = {
    HELLO: ("HELLO", (int, int, int, str, int, int, bytes)),
    VV: ("VV", (dict,)),
    BATCH: ("BATCH", (int, list)),
    ACK: ("ACK", (int,)),
    DONE: ("DONE", ()),
    ERROR: ("ERROR", (int, str)),
    MORE: ("MORE", ()),  # only to a peer with the MORE capability (sync/protocol.py)
}


def encode_frame(message: list[Any]) -> bytes:
    body: bytes = msgpack.packb(message)
    return _PREFIX.pack(len(body)) + body


def parse_message(body: bytes) -> list[Any]:
    """Decode and shape-check one message (not its semantics)."""
    message = unpack(body, "frame")
    if not isinstance(message, list) or not message or type(message[0]) is not int:
        raise MalformedInput("a message is an array starting with its type code")
    shape = _SHAPES.get(message[0])
    if shape is None:
        raise MalformedInput(f"unknown message type {message[0]}")
    name, types = shape
    if len(message) != len(types) + 1:
        raise MalformedInput(f"{name} has {len(types) + 1} elements, got {len(message)}")
    for value, expected in zip(message[1:], types, strict=True):
        if not isinstance(value, expected) or (expected is int and type(value) is bool):
            raise MalformedInput(f"{name}: {value!r:.40} is not {expected}")
    return message


class FrameDecoder:
    """Accumulates stream bytes and yields complete frame bodies."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= 4:
            (length,) = _PREFIX.unpack_from(buffer, offset)
            if length > self.max_frame:
                raise TooLarge(f"frame of {length} bytes (limit {self.max_frame})")
            if len(buffer) - offset - 4 < length:
                break
            out.append(bytes(buffer[offset + 4 : offset + 4 + length]))
            offset += 4 + length
        del buffer[:offset]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (a stream closing with some is truncated)."""
        return len(self._buffer)
