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

Decoded documents also fold back into bytes, when a budget is set (`fold`).  A decoded
page takes about ten times its encoded state (tens of KiB: every item's counters and
text are Python objects), so a box that synced a 10,000-page wiki held about 480 MiB of
decoded pages for good, more than a 512 MB board has.  With a budget, the least recently
used documents beyond it are re-encoded (about 80 µs a page) and held as bytes again,
current state included, until next used.  Nothing is written: the store takes a folded
document's bytes as they are (`state_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar, overload

from sync.documents import DOC_TYPES, Document
from sync.errors import CorruptState, UnknownDocumentType
from sync.pace import Pace

__all__ = ["Documents"]

_T = TypeVar("_T")


_UNSEEDED = object()  # a stored state as loaded: checking a batch decodes it


class _Stored:
    """A document as its encoded state: as loaded, or folded back (then `hint` is the
    folded document's size_hint(), which the store reads to decide on rewriting it, and
    `seed` its checker_seed(), so that checking a batch need not decode it)."""

    __slots__ = ("hint", "seed", "state", "type_name")

    def __init__(
        self, type_name: str, state: bytes, hint: int = 0, seed: object = _UNSEEDED
    ) -> None:
        self.type_name = type_name
        self.state = state
        self.hint = hint
        self.seed = seed


class Documents(MutableMapping[str, Document]):
    """name -> document; stored documents decode on first access and stay decoded until
    `fold` re-encodes the least recently used beyond the budget."""

    __slots__ = ("_entries", "_last", "_recent", "budget")

    def __init__(self, budget: int | None = None) -> None:
        # one dict for both kinds, so the order is the one a plain dict would have, and
        # decoding (a value replaced in place) never disturbs an iteration in progress
        self._entries: dict[str, Document | _Stored] = {}
        # the decoded documents, least recently used first; `_last` is the name used
        # last, whose repeated use (typing, a batch's run of ops on one page) costs one
        # comparison instead of a move
        self._recent: dict[str, None] = {}
        self._last: str | None = None
        # sum of size_hint() of the decoded documents that `fold` keeps; None: no limit
        self.budget = budget

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
        self._touch(name)
        return doc

    def _touch(self, name: str) -> None:
        recent = self._recent
        recent.pop(name, None)
        recent[name] = None
        self._last = name

    # --- the mapping ---------------------------------------------------------------------

    def __getitem__(self, name: str) -> Document:
        entry = self._entries[name]
        if isinstance(entry, _Stored):
            return self._decode(name, entry)
        if name is not self._last:
            self._touch(name)
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
        if name is not self._last:
            self._touch(name)
        return entry

    def __setitem__(self, name: str, doc: Document) -> None:
        self._entries[name] = doc
        self._touch(name)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]
        self._recent.pop(name, None)
        if self._last == name:
            self._last = None

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
        return len(self._recent)

    def state_of(self, name: str) -> tuple[str, bytes]:
        """(type, current encoded state) of `name`: a folded or undecoded document's bytes
        as they are, a decoded one's encoded now."""
        entry = self._entries[name]
        if isinstance(entry, _Stored):
            return entry.type_name, entry.state
        return entry.type_name, entry.encode_state()

    def checker(self, name: str) -> Callable[[Any, str, int], None] | None:
        """The checker of `name` for a batch (None if there is no such document): a
        folded document's is made from its seed, without decoding it; applying the batch
        decodes it, and the pauses between its changes fold it again once done."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        if isinstance(entry, _Stored):
            if entry.seed is not _UNSEEDED:
                return DOC_TYPES[entry.type_name].seeded_checker(entry.seed)
            return self._decode(name, entry).checker()
        return entry.checker()

    def size_hint(self, name: str) -> int:
        """`name`'s size_hint(), without decoding a folded document."""
        entry = self._entries[name]
        return entry.hint if isinstance(entry, _Stored) else entry.size_hint()

    # --- folding -------------------------------------------------------------------------

    def fold(self, busy: Callable[[str], bool] | None = None, pace: Pace | None = None) -> int:
        """Re-encode the least recently used decoded documents until the others' sizes
        (size_hint) fit the budget, or until `pace` says a slice is over; returns how
        many were folded.  Documents for which `busy(name)` is true are kept whatever
        their size.

        Call it only where no one holds a document to change it later (between batches,
        after a commit, at a batch's pauses: the apply looks its documents up again after
        each): a folded document's object is no longer the map's, and changes made to it
        would be lost.  Reading one held meanwhile is harmless.  A batch marks busy the
        documents it has yet to change, which would only be decoded again at once."""
        budget = self.budget
        if budget is None:
            return 0
        entries = self._entries
        decoded = [(name, entries[name]) for name in self._recent]
        sizes = [doc.size_hint() for _name, doc in decoded]  # type: ignore[union-attr]
        total = sum(sizes)
        folded = 0
        for (name, doc), size in zip(decoded, sizes, strict=True):
            if total <= budget:
                break
            if busy is not None and busy(name):
                continue
            assert not isinstance(doc, _Stored)
            entries[name] = _Stored(doc.type_name, doc.encode_state(), size, doc.checker_seed())
            del self._recent[name]
            total -= size
            folded += 1
            if pace is not None and pace.due():
                break
        if self._last is not None and self._last not in self._recent:
            self._last = None
        return folded
