"""Typed errors of the sync engine.

Every rejection of remote input has its own class, so that callers (the
daemon, the tests, a peer's log) can tell *why* something was refused
without parsing messages.  All of them leave the store as it was.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class of everything the sync engine raises on purpose."""


class MalformedInput(SyncError):
    """Bytes or values that do not follow the documented format."""


class MalformedOp(MalformedInput):
    """An operation whose shape or references are invalid for its document type."""


class UnknownDocumentType(MalformedInput):
    """A change names a document type this engine does not know."""


# --- change log, identity and clock -------------------------------------------------------


class InvalidNodeId(MalformedInput):
    """A node id that is not base32 with valid Luhn check characters."""


class BadSignature(SyncError):
    """A signed head whose Ed25519 signature or key does not match its origin."""


class ChainMismatch(SyncError):
    """Changes that do not hash to the signed head they travel with."""


class ClockSkew(SyncError):
    """A remote hybrid-clock timestamp too far in the future of our wall clock."""


class Equivocation(SyncError):
    """Two different signed changes for the same (origin, seq): the origin forked its log.

    The first change is kept, the second rejected, and the evidence recorded.
    """

    def __init__(self, origin: str, seq: int, message: str = "") -> None:
        super().__init__(message or f"origin {origin} signed two different changes at seq {seq}")
        self.origin = origin
        self.seq = seq
        # (origin, seq, kept segment, rejected segment): both validly signed
        self.evidence: tuple[str, int, bytes, bytes] | None = None


class SequenceGap(SyncError):
    """Changes whose predecessors are missing and cannot wait (see BufferFull)."""


class BufferFull(SequenceGap):
    """Too many early changes are waiting for their predecessors."""


class TooLarge(MalformedInput):
    """A frame, batch or change above the configured size limits."""


class UnencodableValue(SyncError, ValueError):
    """A local edit's value that peers could not decode as it is (a Python set, a map
    with non-string keys, an int beyond 64 bits...): refused before anything changes."""


class DocumentTypeMismatch(MalformedOp):
    """An operation targets an existing document with another type."""


class IncompleteVersion(SyncError):
    """A version vector that is not causally closed (it names a change without its deps)."""


class CorruptState(SyncError):
    """A document state in our own store that does not decode: local damage, not a peer's
    input (so not a MalformedInput, which tells a peer it broke the protocol).  Raised
    each time that document is used; its stored state is kept as it is, nothing changes,
    and every other document works."""


# --- protocol -----------------------------------------------------------------------------


class ProtocolError(SyncError):
    """The peer broke the session rules (unexpected message, credit overrun...)."""


class IncompatibleVersion(ProtocolError):
    """The peer speaks no protocol version we support."""
