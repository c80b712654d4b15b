"""Add-wins set (an observed-remove set): tags, pack selections, trusted lists.

Every add carries a unique tag ``(origin, hlc)``.  A remove deletes only the tags its
author had seen, so an add made concurrently elsewhere survives: when one box adds
"écologie" while another removes it, "écologie" stays.

Operations:

| op | meaning |
|---|---|
| ``["a", element]`` | add ``element`` (str, int, bytes), tagged (change origin, change clock) |
| ``["r", element, [[origin, hlc], ...]]`` | remove the listed tags of ``element`` |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import msgpack

from sync.errors import MalformedInput, MalformedOp

_FORMAT = 1
Tag = tuple[str, int]
Element = str | int | bytes


def _check_element(element: Any) -> Element:
    if isinstance(element, bool) or not isinstance(element, str | int | bytes):
        raise MalformedOp("a set element is a string, an integer or bytes")
    return element


def _check_op(op: Any, origin: str, hlc: int) -> None:
    if not isinstance(op, list | tuple) or not op or op[0] not in ("a", "r"):
        raise MalformedOp("a set op is ['a', element] or ['r', element, tags]")
    if op[0] == "a":
        if len(op) != 2 or type(hlc) is not int or not isinstance(origin, str):
            raise MalformedOp("a set add is ['a', element]")
        _check_element(op[1])
        return
    if len(op) != 3 or not isinstance(op[2], list | tuple):
        raise MalformedOp("a set remove is ['r', element, [[origin, hlc], ...]]")
    _check_element(op[1])
    for raw in op[2]:
        if (
            not isinstance(raw, list | tuple)
            or len(raw) != 2
            or not isinstance(raw[0], str)
            or type(raw[1]) is not int
        ):
            raise MalformedOp("a set tag is [origin, clock]")


class AwSet:
    type_name: ClassVar[str] = "set"

    def __init__(self) -> None:
        self._tags: dict[Element, set[Tag]] = {}
        # Removed (element, tag) pairs are remembered so that a duplicate, late add stays
        # removed.  The element is part of the key: one change may add several elements,
        # and they share its (origin, clock) tag.
        self._removed: set[tuple[Element, str, int]] = set()

    def value(self) -> frozenset[Element]:
        return frozenset(e for e, tags in self._tags.items() if tags)

    def __contains__(self, element: object) -> bool:
        return bool(self._tags.get(element))  # type: ignore[call-overload]

    def local_add(self, origin: str, hlc: int, element: Element) -> list[Any]:
        op = ["a", element]
        self.apply(op, origin, hlc)
        return op

    def local_remove(self, origin: str, hlc: int, element: Element) -> list[Any]:
        # Removing what was never seen removes no tag: a valid, empty op.
        tags = self._tags.get(element, set())
        op = ["r", element, sorted([list(t) for t in tags])]
        self.apply(op, origin, hlc)
        return op

    def checker(self) -> Callable[[Any, str, int], None]:
        """Validates ops before a batch applies them; state-free for this type."""
        return _check_op

    def checker_seed(self) -> None:
        return None  # checking needs nothing of the state

    @staticmethod
    def seeded_checker(seed: None) -> Callable[[Any, str, int], None]:
        return _check_op

    def apply_checked(self, op: Any, origin: str, hlc: int) -> None:
        self.apply(op, origin, hlc)  # validation is a few type checks: no fast path needed

    def size_hint(self) -> int:
        return len(self._tags)

    def apply(self, op: Any, origin: str, hlc: int) -> None:
        _check_op(op, origin, hlc)
        element = op[1]
        if op[0] == "a":
            if (element, origin, hlc) not in self._removed:
                self._tags.setdefault(element, set()).add((origin, hlc))
            return
        present = self._tags.get(element)
        for raw in op[2]:
            tag = (raw[0], raw[1])
            self._removed.add((element, *tag))
            if present is not None:
                present.discard(tag)
        if present is not None and not present:
            del self._tags[element]

    def encode_state(self) -> bytes:
        rows = [[e, sorted([list(t) for t in tags])] for e, tags in self._tags.items()]
        removed = [list(t) for t in self._removed]
        return bytes(msgpack.packb([_FORMAT, rows, removed], use_bin_type=True))

    @classmethod
    def decode_state(cls, data: bytes) -> Self:
        try:
            fmt, rows, removed = msgpack.unpackb(data, raw=False)
            if fmt != _FORMAT:
                raise ValueError(f"unknown format {fmt}")
            doc = cls()
            for element, tags in rows:
                doc._tags[_check_element(element)] = {(str(o), int(h)) for o, h in tags}
            doc._removed = {(_check_element(e), str(o), int(h)) for e, o, h in removed}
        except Exception as exc:  # msgpack raises several unrelated types
            raise MalformedInput(f"set state is malformed: {exc}") from None
        return doc
