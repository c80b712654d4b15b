"""The replica's documents by name, each decoded from its stored state on first use.

A box holds thousands of wiki pages and a run touches few of them, but decoding a page's
stored state costs about 300 µs and tens of KiB of objects: decoding all of them at load
took seconds and hundreds of MiB before the first page could be served.  `Documents` keeps
a loaded document as its stored bytes until something reads it, then keeps the decoded
document (edited in place from then on; the store re-encodes only dirty documents, which
are decoded by definition).

It is the mapping the replica's plain dict used to be: `[]`, `get`, `in`, iteration and
`len` see every document, decoded or not, so no reader misses one.  Names and types are
known without decoding anything (`type_of`, `types`).  A stored state that does not
decode raises `CorruptState` naming the document each time it is used, and stays stored
as it is: nothing is lost, and every other document works.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TypeVar, overload

from sync.documents import DOC_TYPES, Document
from sync.errors import CorruptState, UnknownDocumentType

__all__ = ["Documents"]

_T = TypeVar("_T")


class _Stored:
    """A document as its stored state, not decoded yet."""

    __slots__ = ("state", "type_name")

    def __init__(self, type_name: str, state: bytes) -> None:
        self.type_name = type_name
        self.state = state


class Documents(MutableMapping[str, Document]):
    """name -> document; stored documents decode on first access and stay decoded."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        # one dict for both kinds, so the order is the one a plain dict would have, and
        # decoding (a value replaced in place) never disturbs an iteration in progress
        self._entries: dict[str, Document | _Stored] = {}

    def add_stored(self, name: str, type_name: str, state: bytes) -> None:
        """Hold `name` as its stored state, to be decoded when first used.  A type this
        engine does not know could never be decoded: UnknownDocumentType now."""
        if type_name not in DOC_TYPES:
            raise UnknownDocumentType(f"stored document {name!r} has type {type_name!r}")
        self._entries[name] = _Stored(type_name, state)

    def _decode(self, name: str, stored: _Stored) -> Document:
        try:
            doc = DOC_TYPES[stored.type_name].decode_state(stored.state)
        except Exception as exc:
            raise CorruptState(
                f"stored state of {stored.type_name} document {name!r} does not decode "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        self._entries[name] = doc
        return doc

    # --- the mapping ---------------------------------------------------------------------

    def __getitem__(self, name: str) -> Document:
        entry = self._entries[name]
        if isinstance(entry, _Stored):
            return self._decode(name, entry)
        return entry

    @overload
    def get(self, name: str, /) -> Document | None: ...

    @overload
    def get(self, name: str, default: Document, /) -> Document: ...

    @overload
    def get(self, name: str, default: _T, /) -> Document | _T: ...

    def get(self, name: str, default: object = None, /) -> object:
        # the hot path of every edit and read: no exception on a miss, no decode on a hit
        entry = self._entries.get(name)
        if entry is None:
            return default
        if isinstance(entry, _Stored):
            return self._decode(name, entry)
        return entry

    def __setitem__(self, name: str, doc: Document) -> None:
        self._entries[name] = doc

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Documents: {len(self)}, {self.decoded_count()} decoded>"

    # --- without decoding ----------------------------------------------------------------

    def type_of(self, name: str) -> str | None:
        """The type of `name`, None if there is no such document."""
        entry = self._entries.get(name)
        return None if entry is None else entry.type_name

    def types(self) -> dict[str, str]:
        """name -> type of every document."""
        return {name: entry.type_name for name, entry in self._entries.items()}

    def is_decoded(self, name: str) -> bool:
        return not isinstance(self._entries[name], _Stored)

    def decoded_count(self) -> int:
        return sum(not isinstance(entry, _Stored) for entry in self._entries.values())
