"""Hash-chained change logs with signed heads: authenticity at amortised cost.

An origin seals its changes into *segments* (one per local commit or flush, at most a few
thousand changes) and chains the segments::

    h_0 = BLAKE2b-256(b"meshportal-sync-chain-v1\\x00" || utf8(origin))
    h_k = BLAKE2b-256(h_{k-1} || msgpack([origin, first_seq, count, codec, body]))

then signs the head once per segment::

    sig = Ed25519(b"meshportal-sync-head-v1\\x00" || msgpack([origin, last_seq, h_k]))

A receiver verifies one signature per segment and hashes the segment bytes once, so 100,000
keystroke-sized changes cost a few dozen Ed25519 verifications, not 100,000.  h_k commits to
every earlier segment, hence to every earlier change: a relay can neither alter, drop,
reorder nor forge a change without breaking the chain or the signature.  Hashing the
segment as sent (rather than each change re-encoded) keeps sealing at about one
microsecond per change; the price is that segments are relayed byte for byte and never
re-cut, which is also what makes equivocation easy to see: an honest origin seals each
sequence number exactly once, so two differently-hashed signed segments covering the same
sequence number are proof of a fork.

The public key travels with the head and must hash to the origin (a node id is SHA-256 of
the key), so no key directory is needed.
"""

from __future__ import annotations

import hashlib

import msgpack

from sync.change import Change
from sync.codec import (
    ChangeColumns,
    Limits,
    SegmentEnvelope,
    decode_segment,
    decode_segment_envelope,
    encode_segment,
    encode_segment_body,
    unpack,
)
from sync.errors import BadSignature, MalformedInput
from sync.identity import Identity, node_id_from_public_key, verify_signature

__all__ = [
    "Segment",
    "genesis_hash",
    "head_message",
    "open_envelope",
    "open_segment",
    "seal",
    "seal_columns",
    "segment_hash",
    "verify_head",
]

_CHAIN_DOMAIN = b"meshportal-sync-chain-v1\x00"
_HEAD_DOMAIN = b"meshportal-sync-head-v1\x00"


def genesis_hash(origin: str) -> bytes:
    return hashlib.blake2b(_CHAIN_DOMAIN + origin.encode("utf-8"), digest_size=32).digest()


def segment_hash(envelope: SegmentEnvelope) -> bytes:
    """h_k of the segment, from its prev_hash and its encoded contents."""
    covered = msgpack.packb(
        [envelope.origin, envelope.first_seq, envelope.count, envelope.codec, envelope.body]
    )
    return hashlib.blake2b(envelope.prev_hash + covered, digest_size=32).digest()


def head_message(origin: str, seq: int, chain_hash: bytes) -> bytes:
    packed: bytes = msgpack.packb([origin, seq, chain_hash])
    return _HEAD_DOMAIN + packed


class Segment:
    """A verified (or locally sealed) run of changes with the signed head covering its end.

    `changes` is decoded lazily: a stored or relayed segment is often only forwarded.
    """

    __slots__ = ("_changes", "_docs", "envelope", "head_hash", "limits", "raw")

    def __init__(
        self,
        envelope: SegmentEnvelope,
        head_hash: bytes,
        raw: bytes,
        changes: list[Change] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.envelope = envelope
        self.head_hash = head_hash
        self.raw = raw
        self._changes = changes
        self._docs: list[tuple[str, str]] | None = None
        self.limits = limits or Limits()

    @property
    def origin(self) -> str:
        return self.envelope.origin

    @property
    def first_seq(self) -> int:
        return self.envelope.first_seq

    @property
    def last_seq(self) -> int:
        return self.envelope.last_seq

    @property
    def changes(self) -> list[Change]:
        if self._changes is None:
            self._changes, self._docs = decode_segment(self.envelope, self.limits)
        return self._changes

    @property
    def docs(self) -> list[tuple[str, str]]:
        """(name, type) of every document the segment touches."""
        if self._docs is None:
            if self._changes is not None:  # sealed locally: derive from the changes
                self._docs = list(dict.fromkeys((n, t) for c in self._changes for n, t, _ in c.ops))
            else:
                self._changes, self._docs = decode_segment(self.envelope, self.limits)
        return self._docs

    @property
    def is_decoded(self) -> bool:
        return self._changes is not None

    def drop_decoded(self) -> None:
        """Forget the decoded changes (they are re-decoded from `raw` on demand)."""
        self._changes = None
        self._docs = None

    def __repr__(self) -> str:
        return f"Segment({self.origin[:7]} {self.first_seq}..{self.last_seq})"


def seal(identity: Identity, prev_hash: bytes, changes: list[Change]) -> Segment:
    """Encode, chain and sign consecutive local changes of `identity` (at least one)."""
    codec, body = encode_segment_body(changes)
    return _sign(identity, prev_hash, changes[0].seq, len(changes), codec, body, changes)


def seal_columns(
    identity: Identity, prev_hash: bytes, first_seq: int, columns: ChangeColumns
) -> Segment:
    """seal() for changes accumulated column-wise (same bytes, no Change tuples kept)."""
    codec, body = columns.encode()
    return _sign(identity, prev_hash, first_seq, len(columns), codec, body, None)


def _sign(
    identity: Identity,
    prev_hash: bytes,
    first_seq: int,
    count: int,
    codec: int,
    body: bytes,
    changes: list[Change] | None,
) -> Segment:
    envelope = SegmentEnvelope(
        identity.node_id, first_seq, count, prev_hash, identity.public_bytes, b"", codec, body
    )
    head = segment_hash(envelope)
    envelope.signature = identity.sign(head_message(identity.node_id, envelope.last_seq, head))
    return Segment(envelope, head, encode_segment(envelope), changes)


def verify_head(envelope: SegmentEnvelope) -> bytes:
    """Check the signature over the recomputed head; return the head hash.

    Raises BadSignature unless the key hashes to the origin and signed this exact head.
    """
    try:
        owner = node_id_from_public_key(envelope.public_key)
    except MalformedInput as exc:  # pragma: no cover - length already checked by the codec
        raise BadSignature(str(exc)) from exc
    if owner != envelope.origin:
        raise BadSignature(f"public key belongs to {owner}, not to origin {envelope.origin}")
    head = segment_hash(envelope)
    message = head_message(envelope.origin, envelope.last_seq, head)
    verify_signature(envelope.public_key, envelope.signature, message)
    return head


def open_envelope(raw: bytes, limits: Limits) -> SegmentEnvelope:
    return decode_segment_envelope(unpack(raw, "segment"), limits)


def open_segment(raw: bytes, limits: Limits) -> Segment:
    """Decode and verify a segment from the wire, decoding its changes.  Never unverified."""
    envelope = open_envelope(raw, limits)
    head = verify_head(envelope)
    segment = Segment(envelope, head, raw, None, limits)
    segment.changes  # noqa: B018 - decode now: an opened segment is fully checked
    return segment
