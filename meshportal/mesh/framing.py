"""Length-prefixed frames on a stream: 4 bytes big-endian length, then the payload.

A frame larger than the agreed maximum is refused before it is read, so a
peer cannot make us allocate without bound.  Payloads are msgpack maps.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack

MAX_FRAME = 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The stream broke the framing rules (too big, truncated, not a map)."""


async def read_frame(reader: asyncio.StreamReader, max_size: int = MAX_FRAME) -> bytes:
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > max_size:
            raise FrameError(f"frame of {size} bytes exceeds the limit of {max_size}")
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise FrameError("the stream ended inside a frame") from None


def encode_frame(payload: bytes, max_size: int = MAX_FRAME) -> bytes:
    if len(payload) > max_size:
        raise FrameError(f"frame of {len(payload)} bytes exceeds the limit of {max_size}")
    return _HEADER.pack(len(payload)) + payload


def pack(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(payload: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        raise FrameError("a frame is not valid msgpack") from None
    if not isinstance(message, dict):
        raise FrameError("a message must be a map")
    return message
