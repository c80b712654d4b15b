"""msgpack encodings of changes and of sealed segments (format version 1).

See sync/PROTOCOL.md for the byte-level description.  Every decoder here checks types and
bounds and raises MalformedInput (or a subclass) on anything unexpected; none of them
touches replica state.

Two encodings exist on purpose:

* the **canonical change** ``[1, origin, seq, hlc, deps, ops]``: what the hash chain hashes
  and what equivocation evidence stores.  It is deterministic: msgpack with the shortest
  form of every integer and length, strings as str, bytes as bin, arrays in the given order.
* the **segment**: a run of consecutive changes of one origin travelling with the signed
  head that covers them.  Its body is columnar (document table, delta-coded clocks,
  dependencies, operations) and zlib-compressed, which is what keeps a keystroke history
  small on the wire and in memory.  The receiver re-creates the canonical changes from it
  and re-hashes them, so the compact form needs no signature of its own.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

import msgpack

from sync.change import Change, Deps, DocOp
from sync.columnar import OpColumns, decode_ops, differences
from sync.errors import MalformedInput, TooLarge, UnencodableValue

__all__ = [
    "BODY_RAW",
    "BODY_ZLIB",
    "CHANGE_FORMAT",
    "SEGMENT_FORMAT",
    "ChangeColumns",
    "Limits",
    "SegmentEnvelope",
    "decode_change",
    "decode_segment_body",
    "decode_segment_envelope",
    "encode_change",
    "encode_segment",
    "segment_span",
    "unpack",
]

CHANGE_FORMAT = 1
SEGMENT_FORMAT = 1
BODY_RAW = 0
BODY_ZLIB = 1
MAX_DOC_NAME = 512
MAX_HLC = (1 << 64) - 1


class Limits:
    """Size limits applied to remote input (defaults sized for a Pi with 512 MB)."""

    __slots__ = (
        "max_batch_changes",
        "max_batch_segments",
        "max_body_bytes",
        "max_segment_changes",
    )

    def __init__(
        self,
        max_segment_changes: int = 8192,
        max_body_bytes: int = 8 << 20,
        max_batch_segments: int = 4096,
        max_batch_changes: int = 262_144,
    ) -> None:
        self.max_segment_changes = max_segment_changes
        self.max_body_bytes = max_body_bytes
        self.max_batch_segments = max_batch_segments
        self.max_batch_changes = max_batch_changes


def _reject_ext(code: int, data: bytes) -> Any:
    raise MalformedInput(f"msgpack extension type {code} is not part of the format")


def unpack(data: bytes, what: str) -> Any:
    """msgpack-decode `data`, turning every decoder failure into MalformedInput."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedInput(f"{what}: expected bytes, got {type(data).__name__}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except MalformedInput:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # UnicodeDecodeError, ExtraData, FormatError, StackError and truncation all land here
        raise MalformedInput(f"{what}: invalid msgpack ({type(exc).__name__}: {exc})") from exc


def wire_value(value: Any) -> Any:
    """`value` as every peer will decode it (tuples become lists...), or UnencodableValue.

    A local value is checked when it is written, not when it is sealed: a value that could
    not be encoded, or that a peer's decoder refuses, would otherwise fail the seal of a
    whole segment of changes already applied here, or be refused by every peer forever.
    """
    try:
        packed = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UnencodableValue(f"value cannot be replicated: {exc}") from None
    try:
        return unpack(packed, "value")
    except MalformedInput as exc:
        raise UnencodableValue(f"value cannot be replicated: {exc}") from None


def _is_int(value: object) -> bool:
    return type(value) is int


def _check_deps(raw: object, origin: str) -> Deps:
    if not isinstance(raw, list):
        raise MalformedInput("deps must be an array")
    deps: list[tuple[str, int]] = []
    previous = ""
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2):
            raise MalformedInput("a dependency is [origin, seq]")
        dep_origin, dep_seq = item
        if not isinstance(dep_origin, str) or not _is_int(dep_seq) or dep_seq < 1:
            raise MalformedInput("a dependency is [origin:str, seq:int>=1]")
        if dep_origin <= previous or dep_origin == origin:
            raise MalformedInput("deps must be sorted by origin, distinct, and not self")
        previous = dep_origin
        deps.append((dep_origin, dep_seq))
    return tuple(deps)


def _check_doc(name: object, type_name: object) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_DOC_NAME:
        raise MalformedInput(f"document name must be a non-empty str of <= {MAX_DOC_NAME}")
    if not isinstance(type_name, str):
        raise MalformedInput("document type must be a str")


# --- canonical change ------------------------------------------------------------------------


def encode_change(change: Change) -> bytes:
    origin, seq, hlc, deps, ops = change
    return msgpack.packb([CHANGE_FORMAT, origin, seq, hlc, deps, ops])  # type: ignore[no-any-return]


def decode_change(data: bytes) -> Change:
    raw = unpack(data, "change")
    if not isinstance(raw, list) or not raw:
        raise MalformedInput("a change is a non-empty array")
    if raw[0] != CHANGE_FORMAT or not _is_int(raw[0]):
        raise MalformedInput(f"unsupported change format {raw[0]!r} (this engine reads 1)")
    if len(raw) != 6:
        raise MalformedInput("a format-1 change has 6 elements")
    _, origin, seq, hlc, deps, ops = raw
    if not isinstance(origin, str) or not origin:
        raise MalformedInput("origin must be a non-empty str")
    if not _is_int(seq) or seq < 1:
        raise MalformedInput("seq must be an int >= 1")
    if not _is_int(hlc) or not 0 <= hlc <= MAX_HLC:
        raise MalformedInput("hlc must be a 64-bit unsigned int")
    if not isinstance(ops, list):
        raise MalformedInput("ops must be an array")
    doc_ops: list[DocOp] = []
    for op in ops:
        if not (isinstance(op, list) and len(op) == 3):
            raise MalformedInput("an op is [doc_name, doc_type, op]")
        _check_doc(op[0], op[1])
        doc_ops.append((op[0], op[1], op[2]))
    return Change(origin, seq, hlc, _check_deps(deps, origin), tuple(doc_ops))


# --- segments --------------------------------------------------------------------------------


class SegmentEnvelope:
    """The outer fields of a segment, decoded and type-checked, body still compressed."""

    __slots__ = (
        "body",
        "codec",
        "count",
        "first_seq",
        "origin",
        "prev_hash",
        "public_key",
        "signature",
    )

    def __init__(
        self,
        origin: str,
        first_seq: int,
        count: int,
        prev_hash: bytes,
        public_key: bytes,
        signature: bytes,
        codec: int,
        body: bytes,
    ) -> None:
        self.origin = origin
        self.first_seq = first_seq
        self.count = count
        self.prev_hash = prev_hash
        self.public_key = public_key
        self.signature = signature
        self.codec = codec
        self.body = body

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    def as_list(self) -> list[Any]:
        return [
            SEGMENT_FORMAT,
            self.origin,
            self.first_seq,
            self.count,
            self.prev_hash,
            self.public_key,
            self.signature,
            self.codec,
            self.body,
        ]


class ChangeColumns:
    """Consecutive changes of one origin, accumulated straight into the segment body's columns.

    What a replica keeps of its unsealed local changes: clocks, dependencies, op counts,
    document indexes and the operations' leaves (see OpColumns), appended as each change is
    made.  Sealing is then packing columns that already exist, and no Change tuple or op
    value has to stay alive until then.  `encode()` yields exactly the bytes that
    `encode_segment_body` gives for the same changes; `changes()` rebuilds them.
    """

    __slots__ = (
        "_deps",
        "_doc_index",
        "_name",
        "_type",
        "counts",
        "doc_index",
        "hlcs",
        "op_docs",
        "ops",
    )

    def __init__(self) -> None:
        self.hlcs: list[int] = []
        self._deps: dict[int, Deps] = {}  # change index -> deps, for the few that have any
        self.counts: list[int] = []
        self.doc_index: dict[tuple[str, str], int] = {}
        self.op_docs: list[int] = []
        self.ops = OpColumns()
        # the document of the previous op: typing stays in one document
        self._name = self._type = ""
        self._doc_index = -1

    @classmethod
    def of(cls, changes: Iterable[Change]) -> ChangeColumns:
        columns = cls()
        add = columns.add
        for change in changes:
            add(change.hlc, change.deps, change.ops)
        return columns

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, hlc: int, deps: Deps, ops: tuple[DocOp, ...]) -> None:
        """Append one change (called on every keystroke)."""
        self.hlcs.append(hlc)
        if deps:
            self._deps[len(self.counts)] = deps
        self.counts.append(len(ops))
        add_op = self.ops.add
        for name, type_name, op in ops:
            if name is not self._name or type_name is not self._type:
                self._doc_index = self.doc_index.setdefault((name, type_name), len(self.doc_index))
                self._name, self._type = name, type_name
            self.op_docs.append(self._doc_index)
            add_op(op)

    def body(self, *, checked: bool = True) -> list[Any]:
        """The uncompressed body: [docs, hlc deltas, deps, counts, op_docs, ops]
        (`checked`: see OpColumns.encode)."""
        hlcs = self.hlcs
        deltas = differences(hlcs)
        deps: list[Deps] = [()] * len(hlcs)
        for index, change_deps in self._deps.items():
            deps[index] = change_deps
        return [
            list(self.doc_index),
            deltas,
            deps,
            self.counts,
            self.op_docs,
            self.ops.encode(checked=checked),
        ]

    def encode(self) -> tuple[int, bytes]:
        """(codec, bytes) of the segment body."""
        try:
            raw: bytes = msgpack.packb(self.body(checked=False))
        except OverflowError:  # an int delta beyond msgpack's range: that column goes raw
            raw = msgpack.packb(self.body())
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return BODY_ZLIB, packed
        return BODY_RAW, raw

    def changes(self, origin: str, first_seq: int) -> list[Change]:
        """The accumulated changes as Change tuples (for history and for re-cutting a run).

        Built from the columns without the checks made on remote input: these are our own
        values, valid or not for a peer, and reading them back must not fail."""
        table = list(self.doc_index)
        triples = [(*table[i], op) for i, op in zip(self.op_docs, self.ops.values(), strict=True)]
        changes: list[Change] = []
        at = 0
        for index, (hlc, count) in enumerate(zip(self.hlcs, self.counts, strict=True)):
            deps = self._deps.get(index, ())
            ops = tuple(triples[at : at + count])
            changes.append(Change(origin, first_seq + index, hlc, deps, ops))
            at += count
        return changes


def encode_segment_body(changes: list[Change] | tuple[Change, ...]) -> tuple[int, bytes]:
    """Columnar body of consecutive changes of one origin -> (codec, bytes)."""
    return ChangeColumns.of(changes).encode()


def encode_segment(envelope: SegmentEnvelope) -> bytes:
    return msgpack.packb(envelope.as_list())  # type: ignore[no-any-return]


def _bin(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedInput(f"{what} must be {size} bytes of bin")
    return value


def decode_segment_envelope(raw: object, limits: Limits) -> SegmentEnvelope:
    """Check the outer array of a segment (already msgpack-decoded)."""
    if not isinstance(raw, list) or not raw:
        raise MalformedInput("a segment is a non-empty array")
    if raw[0] != SEGMENT_FORMAT or not _is_int(raw[0]):
        raise MalformedInput(f"unsupported segment format {raw[0]!r} (this engine reads 1)")
    if len(raw) != 9:
        raise MalformedInput("a format-1 segment has 9 elements")
    _, origin, first_seq, count, prev_hash, public_key, signature, codec, body = raw
    if not isinstance(origin, str) or not origin:
        raise MalformedInput("segment origin must be a non-empty str")
    if not _is_int(first_seq) or first_seq < 1 or not _is_int(count) or count < 1:
        raise MalformedInput("segment first_seq and count must be ints >= 1")
    if count > limits.max_segment_changes:
        raise TooLarge(f"segment of {count} changes (limit {limits.max_segment_changes})")
    if codec not in (BODY_RAW, BODY_ZLIB) or not _is_int(codec):
        raise MalformedInput(f"unknown segment body codec {codec!r}")
    if not isinstance(body, bytes):
        raise MalformedInput("segment body must be bin")
    return SegmentEnvelope(
        origin,
        first_seq,
        count,
        _bin(prev_hash, 32, "prev_hash"),
        _bin(public_key, 32, "public_key"),
        _bin(signature, 64, "signature"),
        codec,
        body,
    )


def segment_span(raw: bytes) -> tuple[str, int, int]:
    """(origin, first_seq, last_seq) of an encoded segment, read from its first fields only.

    For bookkeeping of what crossed a session (sync/protocol.py): the body is neither
    copied nor decoded, so this costs the same for a 1 MiB segment as for a tiny one.
    """
    try:
        unpacker = msgpack.Unpacker(io.BytesIO(raw), read_size=128, raw=False)
        size = unpacker.read_array_header()
        fields = [unpacker.unpack() for _ in range(4)] if size == 9 else []
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise MalformedInput(f"segment: invalid msgpack ({type(exc).__name__})") from exc
    if not fields or fields[0] != SEGMENT_FORMAT or not _is_int(fields[0]):
        raise MalformedInput("not a format-1 segment")
    _, origin, first_seq, count = fields
    if not isinstance(origin, str) or not _is_int(first_seq) or not _is_int(count):
        raise MalformedInput("segment origin, first_seq and count are str, int, int")
    if first_seq < 1 or count < 1:
        raise MalformedInput("segment first_seq and count must be ints >= 1")
    return origin, first_seq, first_seq + count - 1


def _inflate(envelope: SegmentEnvelope, limits: Limits) -> bytes:
    if envelope.codec == BODY_RAW:
        if len(envelope.body) > limits.max_body_bytes:
            raise TooLarge(f"segment body of {len(envelope.body)} bytes")
        return envelope.body
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(envelope.body, limits.max_body_bytes)
    except zlib.error as exc:
        raise MalformedInput(f"segment body is not valid zlib: {exc}") from exc
    if inflater.unconsumed_tail:
        # a compression bomb, or a genuinely huge segment: both refused the same way
        raise TooLarge(f"segment body inflates beyond {limits.max_body_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedInput("segment body zlib stream is truncated or has trailing data")
    return out


def _ints(values: list[Any], low: int, high: int) -> bool:
    """All ints (not bools) within [low, high]; C-speed on the common all-int list."""
    if not values:
        return True
    return set(map(type, values)) == {int} and low <= min(values) and max(values) <= high


def decode_segment_body(envelope: SegmentEnvelope, limits: Limits) -> list[Change]:
    """The changes of a segment, fully type-checked (operations stay opaque here)."""
    return decode_segment(envelope, limits)[0]


def decode_segment(
    envelope: SegmentEnvelope, limits: Limits
) -> tuple[list[Change], list[tuple[str, str]]]:
    """The changes of a segment and its document table (name, type)."""
    columns = unpack(_inflate(envelope, limits), "segment body")
    if not isinstance(columns, list) or len(columns) != 6:
        raise MalformedInput("segment body is [docs, hlcs, deps, counts, op_docs, ops]")
    docs, hlcs, deps, counts, op_docs, op_columns = columns
    for name, column in (("docs", docs), ("hlcs", hlcs), ("deps", deps), ("counts", counts)):
        if not isinstance(column, list):
            raise MalformedInput(f"segment {name} must be an array")
    if not isinstance(op_docs, list):
        raise MalformedInput("segment op_docs must be an array")
    count = envelope.count
    if not len(hlcs) == len(deps) == len(counts) == count:
        raise MalformedInput(f"segment columns must each have {count} entries")
    if not _ints(counts, 0, 1 << 32):
        raise MalformedInput("op counts must be ints >= 0")
    if not _ints(hlcs, 0, MAX_HLC) or not _ints(hlcs[1:], 1, MAX_HLC):
        raise MalformedInput("hybrid clocks of one origin must strictly increase")
    hlc_values = list(accumulate(hlcs))
    if hlc_values[-1] > MAX_HLC:
        raise MalformedInput("hlc must be a 64-bit unsigned int")
    total = sum(counts)
    if len(op_docs) != total:
        raise MalformedInput("one document index per op")
    table: list[tuple[str, str]] = []
    for doc in docs:
        if not (isinstance(doc, list) and len(doc) == 2):
            raise MalformedInput("a document table entry is [name, type]")
        _check_doc(doc[0], doc[1])
        table.append((doc[0], doc[1]))
    if not _ints(op_docs, 0, len(table) - 1):
        raise MalformedInput("document index out of the table")
    values = decode_ops(op_columns, total)
    # (name, type, op) triples built in C, then cut per change
    triples = [(*table[i], op) for i, op in zip(op_docs, values, strict=True)]
    origin = envelope.origin
    changes: list[Change] = []
    seq = envelope.first_seq
    at = 0
    check_deps = _check_deps
    for hlc, n, change_deps in zip(hlc_values, counts, deps, strict=True):
        changes.append(
            Change(
                origin,
                seq,
                hlc,
                check_deps(change_deps, origin) if change_deps else (),
                tuple(triples[at : at + n]),
            )
        )
        at += n
        seq += 1
    return changes, table
