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
