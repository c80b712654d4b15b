"""The document types a replica holds, and the contract they all keep.

``apply`` takes an op produced by any replica's ``local_*`` method (``checker`` then
``apply_checked`` do the same in two steps: a batch checks every op before applying any).
It is idempotent,
gives the same result whatever the order of concurrent ops, may assume causal delivery
(the replica applies an origin's changes in sequence and after their dependencies),
and raises ``MalformedOp`` without changing anything when the op is invalid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, Self

from sync.awset import AwSet
from sync.errors import UnknownDocumentType
from sync.lww import LwwMap
from sync.text import TextDoc

__all__ = ["DOC_TYPES", "AwSet", "Document", "LwwMap", "TextDoc", "new_document"]


class Document(Protocol):
    type_name: ClassVar[str]

    def apply(self, op: Any, origin: str, hlc: int) -> None: ...

    def checker(self) -> Callable[[Any, str, int], None]:
        """A validator for ops to be applied in the order it sees them; raises MalformedOp.
        Ops it accepted may be given to ``apply_checked`` (same order), which cannot fail."""
        ...

    def checker_seed(self) -> Any:
        """What ``checker`` needs of the state (small): kept when the document folds back
        into bytes, so that checking a batch does not decode it (sync/document_map.py)."""
        ...

    @staticmethod
    def seeded_checker(seed: Any) -> Callable[[Any, str, int], None]:
        """``checker()`` of a document whose ``checker_seed()`` was `seed`."""
        ...

    def apply_checked(self, op: Any, origin: str, hlc: int) -> None: ...

    def size_hint(self) -> int:
        """Rough size of the state (entries, items): decides when to snapshot it."""
        ...

    def value(self) -> Any: ...

    def encode_state(self) -> bytes: ...

    @classmethod
    def decode_state(cls, data: bytes) -> Self: ...


DOC_TYPES: dict[str, type[Document]] = {
    TextDoc.type_name: TextDoc,
    LwwMap.type_name: LwwMap,
    AwSet.type_name: AwSet,
}


def new_document(type_name: str) -> Document:
    cls = DOC_TYPES.get(type_name)
    if cls is None:
        raise UnknownDocumentType(f"unknown document type {type_name!r}")
    return cls()
