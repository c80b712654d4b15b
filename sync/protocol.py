"""The sync session: a sans-I/O state machine two peers drive over any byte stream.

Feed received bytes to `receive_data`, send whatever `data_to_send` returns, apply the
batches it hands back (durably), then call `acknowledge(batch_no)`.  No sockets, no
asyncio: the daemon wraps it around a TCP stream, the tests around a loop that moves bytes.

Flights (see sync/PROTOCOL.md for the bytes)::

    initiator                                 responder
    HELLO(digest) [+ VV if small]     ->
                                      <-      HELLO(digest) [+ VV + BATCH... + DONE]
    [VV] + ACK... + BATCH... + DONE   ->
                                      <-      ACK...

What a side sends is not fixed when the version vectors cross: a received batch can link
early arrivals (or unblock changes waiting for dependencies), so after applying one, a
side whose version vector passed what the peer is known to hold (`_known`: the peer's VV
raised by every segment sent or received) sends those changes too: before its DONE (a
DONE still in our output buffer is withdrawn), or, once DONE is out and the peer speaks
MORE (capability bit 1), after a MORE frame sent ahead of the batch's ACK, then a new
DONE.  MORE before the ACK is what lets the peer know, once all its batches are
acknowledged, that nothing else is coming.

Peers whose version-vector digests match stop after the first exchange (a HELLO of about
35 bytes each way, plus the initiator's eager VV: about 20 bytes per origin).  Protocol 2
names origins in a VV by a 16-byte key (BLAKE2b-128 of the node id) instead of the 63-char
node id, and leaves the node id out of HELLO unless asked: the transport authenticates
the peer, so repeating it costs bytes and proves nothing.

A batch is acknowledged only after the receiver made it durable, and a sender
keeps at most `window` batches unacknowledged (back-pressure).  An interrupted session
loses nothing: the next one starts from the version vectors, which only count durable,
applied changes, so nothing acknowledged is sent again.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Protocol

import msgpack

from sync.change import VersionVector
from sync.codec import segment_span
from sync.errors import IncompatibleVersion, MalformedInput, ProtocolError, SyncError, TooLarge
from sync.frames import (
    ACK,
    BATCH,
    DEFAULT_MAX_FRAME,
    DONE,
    ERROR,
    HELLO,
    MORE,
    VV,
    FrameDecoder,
    encode_frame,
    parse_message,
)

__all__ = [
    "CAPABILITIES",
    "CAP_EAGER_VV",
    "CAP_MORE",
    "PROTOCOL_VERSION",
    "ReceivedBatch",
    "SyncSession",
    "SyncSource",
    "origin_key",
    "vv_digest",
]

PROTOCOL_VERSION = 2
MIN_PROTOCOL_VERSION = 2  # version 1 (full node ids in VV and HELLO) never shipped
CAP_EAGER_VV = 1  # the initiator may send its VV with HELLO
CAP_MORE = 2  # batches may follow our DONE after a MORE frame (changes linked mid-session)
CAPABILITIES = CAP_EAGER_VV | CAP_MORE
EAGER_VV_MAX_ORIGINS = 4  # a larger VV waits for the digest check
DEFAULT_WINDOW = 4
DEFAULT_BATCH_BYTES = 1 << 20
DEFAULT_BATCH_SEGMENTS = 256
_FRAME_OVERHEAD = 64  # array header, type code, batch number, per-frame slack
_DONE_FRAME = encode_frame([DONE])

ERR_PROTOCOL, ERR_VERSION, ERR_REJECTED = 1, 2, 3


class SyncSource(Protocol):
    """What a session needs from the replica side.

    `changes_since` is called once with the peer's VV, then again (with what the peer is
    known to hold) whenever a received batch made more changes applicable here."""

    def version_vector(self) -> VersionVector: ...

    def changes_since(self, vv: VersionVector) -> list[bytes]: ...

    def origins(self) -> list[str]: ...


def origin_key(origin: str) -> bytes:
    """How a VV names an origin on the wire: BLAKE2b-128 of its node id (UTF-8)."""
    return hashlib.blake2b(origin.encode("utf-8"), digest_size=16).digest()


def encode_vv(vv: VersionVector) -> dict[bytes, int]:
    return {origin_key(origin): seq for origin, seq in vv.items() if seq > 0}


def vv_digest(vv: VersionVector) -> bytes:
    """16-byte BLAKE2b of the sorted (origin, seq) pairs with seq > 0."""
    items = sorted((origin, seq) for origin, seq in vv.items() if seq > 0)
    return hashlib.blake2b(msgpack.packb(items), digest_size=16).digest()


class ReceivedBatch:
    """Segments the driver must apply durably, then acknowledge by number."""

    __slots__ = ("number", "segments")

    def __init__(self, number: int, segments: list[bytes]) -> None:
        self.number = number
        self.segments = segments


class SyncSession:
    def __init__(
        self,
        source: SyncSource,
        node_id: str,
        *,
        initiator: bool,
        max_frame: int = DEFAULT_MAX_FRAME,
        window: int = DEFAULT_WINDOW,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_segments: int = DEFAULT_BATCH_SEGMENTS,
        capabilities: int = CAPABILITIES,
        versions: tuple[int, int] = (MIN_PROTOCOL_VERSION, PROTOCOL_VERSION),
        announce_id: bool = False,
    ) -> None:
        self.source = source
        self.node_id = node_id
        self.initiator = initiator
        self.max_frame = max_frame
        self.window = window
        self.batch_bytes = min(batch_bytes, max_frame - _FRAME_OVERHEAD)
        self.batch_segments = batch_segments
        self.capabilities = capabilities
        self.versions = versions
        self.announce_id = announce_id  # send our node id in HELLO (the transport knows it)
        self._decoder = FrameDecoder(max_frame)
        self._out = bytearray()
        self._my_vv = source.version_vector()
        self._my_digest = vv_digest(self._my_vv)
        # peer state
        self.peer_id: str | None = None
        self.version: int | None = None
        self._peer_caps = 0
        self._peer_window = 1
        self._peer_max_frame = DEFAULT_MAX_FRAME
        self._peer_vv: VersionVector | None = None
        self._peer_keys: dict[bytes, int] = {}  # the peer's VV as sent (origin key -> seq)
        # origin -> highest seq the peer holds as far as this session knows: its VV, raised
        # by every segment we queued for it or received from it
        self._known: VersionVector = {}
        self._peer_done = False
        self._in_sync = False
        # our sending side
        self._vv_sent = False
        self._queue: deque[bytes] | None = None
        self._next_batch = 1
        self._unacked: set[int] = set()
        self._done_sent = False
        self._done_at: int | None = None  # where our DONE sits in _out until it is taken
        # our receiving side
        self._expected_batch = 1
        self._unapplied: dict[int, list[bytes]] = {}  # batch number -> its segments
        self.failed: SyncError | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        if initiator:
            self._send_hello()
            if len(self._my_vv) <= EAGER_VV_MAX_ORIGINS and capabilities & CAP_EAGER_VV:
                self._send_vv()

    # --- driver API ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        if self.failed is not None:
            return True
        if self._in_sync:
            return True
        return self._done_sent and not self._unacked and self._peer_done and not self._unapplied

    @property
    def has_data(self) -> bool:
        return bool(self._out)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        self._done_at = None  # what is out is out: a DONE taken here cannot be withdrawn
        self.bytes_sent += len(data)
        return data

    def receive_data(self, data: bytes) -> list[ReceivedBatch]:
        """Process stream bytes; returns batches to apply.  Raises SyncError on a broken
        peer after queueing an ERROR frame for it."""
        if self.failed is not None:
            raise self.failed
        self.bytes_received += len(data)
        batches: list[ReceivedBatch] = []
        try:
            for body in self._decoder.feed(data):
                batch = self._handle(parse_message(body))
                if batch is not None:
                    batches.append(batch)
        except SyncError as exc:
            self.fail(exc)
            raise
        return batches

    def acknowledge(self, number: int) -> None:
        """The batch `number` is applied and durable: tell the peer, release its credit."""
        segments = self._unapplied.pop(number, None)
        if segments is None:
            raise ProtocolError(f"batch {number} is not awaiting acknowledgement")
        for raw in segments:
            self._raise_known(raw)
        self._follow_up()  # before the ACK: a MORE must precede it
        self._emit([ACK, number])
        self._pump()

    def fail(self, exc: SyncError, code: int | None = None) -> None:
        """Give up: queue an ERROR frame for the peer (e.g. the driver could not apply)."""
        if self.failed is not None:
            return
        self.failed = exc
        if code is None:
            code = ERR_VERSION if isinstance(exc, IncompatibleVersion) else ERR_PROTOCOL
            if not isinstance(exc, ProtocolError | MalformedInput):
                code = ERR_REJECTED
        self._emit([ERROR, code, f"{type(exc).__name__}: {exc}"[:500]])

    def connection_lost(self) -> None:
        """The stream ended: a partial frame means the peer was cut off mid-message."""
        if self.failed is None and not self.finished:
            self.failed = ProtocolError(
                f"stream ended before the session finished ({self._decoder.pending} bytes "
                "of an incomplete frame)"
            )

    # --- internals ------------------------------------------------------------------------

    def _emit(self, message: list[object]) -> None:
        self._out += encode_frame(message)

    def _send_hello(self) -> None:
        low, high = self.versions
        self._emit(
            [
                HELLO,
                low,
                high,
                self.capabilities,
                self.node_id if self.announce_id else "",
                self.max_frame,
                self.window,
                self._my_digest,
            ]
        )

    def _send_vv(self) -> None:
        if not self._vv_sent:
            self._vv_sent = True
            self._emit([VV, encode_vv(self._my_vv)])

    def _handle(self, message: list[object]) -> ReceivedBatch | None:
        kind = message[0]
        if kind == ERROR:
            raise ProtocolError(f"peer refused: {message[2]} (code {message[1]})")
        if self.version is None:
            if kind != HELLO:
                raise ProtocolError("the first message must be HELLO")
            self._on_hello(message)
            return None
        if kind == HELLO:
            raise ProtocolError("HELLO sent twice")
        if self._in_sync:
            return None  # an eager VV that crossed our equal digest: nothing to do
        if kind == VV:
            self._on_vv(message[1])  # type: ignore[arg-type]
        elif kind == BATCH:
            return self._on_batch(message)
        elif kind == ACK:
            self._on_ack(message[1])  # type: ignore[arg-type]
        elif kind == DONE:
            if self._peer_done:
                raise ProtocolError("DONE sent twice")
            self._peer_done = True
        elif kind == MORE:
            if not self._more_agreed:
                raise ProtocolError("MORE without the capability")
            if not self._peer_done:
                raise ProtocolError("MORE before DONE")
            self._peer_done = False  # batches, then a new DONE, follow
        return None

    def _on_hello(self, message: list[object]) -> None:
        _, low, high, caps, node_id, max_frame, window, digest = message
        assert isinstance(low, int) and isinstance(high, int) and isinstance(caps, int)
        assert isinstance(node_id, str) and isinstance(max_frame, int)
        assert isinstance(window, int) and isinstance(digest, bytes)
        my_low, my_high = self.versions
        agreed = min(high, my_high)
        if agreed < max(low, my_low):
            raise IncompatibleVersion(
                f"peer speaks protocol {low}..{high}, we speak {my_low}..{my_high}"
            )
        if window < 1 or max_frame < 1024 or len(digest) != 16:
            raise ProtocolError("HELLO with a window < 1, max_frame < 1024 or a bad digest")
        self.version = agreed
        self.peer_id = node_id or None
        self._peer_caps = caps
        self._peer_window = window
        self._peer_max_frame = max_frame
        self.batch_bytes = min(self.batch_bytes, max_frame - _FRAME_OVERHEAD)
        if not self.initiator:
            self._send_hello()
        if digest == self._my_digest:
            self._in_sync = True  # both sides see equal digests: nothing else is sent
            return
        self._send_vv()

    def _on_vv(self, raw: dict[object, object]) -> None:
        if self._peer_vv is not None:
            raise ProtocolError("VV sent twice")
        keyed: dict[bytes, int] = {}
        for key, seq in raw.items():
            if not isinstance(key, bytes) or len(key) != 16 or type(seq) is not int or seq < 0:
                raise MalformedInput("a VV maps origin keys (bin 16) to seqs (int >= 0)")
            keyed[key] = seq
        # origins the peer names that we do not hold: nothing of theirs to send anyway
        vv = {o: keyed[k] for o in self.source.origins() if (k := origin_key(o)) in keyed}
        self._peer_vv = vv
        self._peer_keys = keyed
        self._known = dict(vv)
        self._send_vv()
        queue = self.source.changes_since(vv)
        for segment in queue:
            self._raise_known(segment)
        self._queue = deque(queue)
        self._pump()

    @property
    def _more_agreed(self) -> bool:
        return bool(self.capabilities & self._peer_caps & CAP_MORE)

    def _raise_known(self, raw: bytes) -> None:
        """The peer holds (or will, once our queue is sent) the segment `raw`, and so
        its origin's chain up to its last seq."""
        try:
            origin, _first, last = segment_span(raw)
        except MalformedInput:
            return  # the driver accepted the batch: not ours to refuse here
        if last > self._known_seq(origin):
            self._known[origin] = last

    def _known_seq(self, origin: str) -> int:
        seq = self._known.get(origin)
        if seq is None:
            # an origin we learnt of after the peer's VV came: look its key up now
            seq = self._known[origin] = self._peer_keys.get(origin_key(origin), 0)
        return seq

    def _follow_up(self) -> None:
        """After applying a received batch: send what became applied here and the peer
        does not hold (early arrivals the batch linked, changes it unblocked).

        Only other origins count: ours grows by local edits, which wait for the next
        session (`node_id` is our origin), so every follow-up carries changes that existed
        elsewhere, and the exchange ends."""
        queue = self._queue
        if queue is None or self.failed is not None:
            return
        if self._done_sent and self._done_at is None and not self._more_agreed:
            return  # an older peer takes nothing after our DONE: the next session will
        grown = [
            (origin, seq)
            for origin, seq in self.source.version_vector().items()
            if origin != self.node_id and seq > self._known_seq(origin)
        ]
        if not grown:
            return
        extra = self.source.changes_since(dict(self._known))
        for raw in extra:
            self._raise_known(raw)
        for origin, seq in grown:  # held now, and sent: never a reason for another round
            if seq > self._known[origin]:
                self._known[origin] = seq
        if not extra:
            return
        if self._done_sent:
            self._done_sent = False
            at = self._done_at
            if at is not None:
                # our DONE has not left yet (it was queued in this same turn): withdraw it
                # rather than say MORE, so the peer sees one DONE, after these batches
                del self._out[at : at + len(_DONE_FRAME)]
                self._done_at = None
            else:
                self._emit([MORE])
        queue.extend(extra)

    def _pump(self) -> None:
        """Send batches while the peer grants credit; DONE after the last."""
        queue = self._queue
        if queue is None or self.failed is not None:
            return
        while queue and len(self._unacked) < self._peer_window:
            batch: list[bytes] = []
            size = 0
            while queue and len(batch) < self.batch_segments:
                segment = queue[0]
                # batch_bytes is a target: a segment above it goes alone in its batch.
                # Only the peer's frame limit is hard (segment sizes depend on timing:
                # timestamps are delta-encoded, so slow edits make bigger segments).
                if len(segment) + 8 > self._peer_max_frame - _FRAME_OVERHEAD:
                    raise TooLarge(f"a segment of {len(segment)} bytes exceeds the frame limit")
                if batch and size + len(segment) + 8 > self.batch_bytes:
                    break
                batch.append(queue.popleft())
                size += len(segment) + 8
            number = self._next_batch
            self._next_batch += 1
            self._unacked.add(number)
            self._emit([BATCH, number, batch])
        if not queue and not self._done_sent:
            self._done_sent = True
            self._done_at = len(self._out)
            self._out += _DONE_FRAME

    def _on_batch(self, message: list[object]) -> ReceivedBatch:
        _, number, segments = message
        assert isinstance(number, int) and isinstance(segments, list)
        if self._peer_done:
            raise ProtocolError("BATCH after DONE")
        if number != self._expected_batch:
            raise ProtocolError(f"batch {number} out of order (expected {self._expected_batch})")
        if len(self._unapplied) >= self.window:
            raise ProtocolError("peer sent more batches than our window allows")
        if not all(isinstance(s, bytes) for s in segments):
            raise MalformedInput("a BATCH holds segments as bin")
        self._expected_batch += 1
        received = [bytes(s) for s in segments]
        self._unapplied[number] = received
        return ReceivedBatch(number, received)

    def _on_ack(self, number: int) -> None:
        if number not in self._unacked:
            raise ProtocolError(f"ACK for batch {number}, which is not in flight")
        self._unacked.discard(number)
        self._pump()
