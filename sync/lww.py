"""Last-writer-wins map: titles, metadata and catalogue entries.

Each key keeps the write with the greatest ``(hlc, origin)``: the hybrid clock orders
writes as people made them, and the origin breaks ties the same way on every box, so
all replicas pick the same winner whatever order writes arrive in.  A delete is a
write of "no value" with its own stamp, so a later set brings the key back and an
earlier one cannot.

Operations:

| op | meaning |
|---|---|
| ``["s", key, value]`` | set ``key`` (a string) to ``value`` (any msgpack value) |
| ``["x", key]`` | delete ``key`` |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import msgpack

from sync.errors import MalformedInput, MalformedOp

_FORMAT = 1
_ABSENT = object()


def _check_op(op: Any, origin: str, hlc: int) -> None:
    if not isinstance(op, list | tuple) or not op or op[0] not in ("s", "x"):
        raise MalformedOp("a map op is ['s', key, value] or ['x', key]")
    if len(op) != (3 if op[0] == "s" else 2) or not isinstance(op[1], str):
        raise MalformedOp("a map op names its key as a string")
    if type(hlc) is not int or not isinstance(origin, str):
        raise MalformedOp("a map write needs an integer clock and a string origin")


class LwwMap:
    type_name: ClassVar[str] = "map"

    def __init__(self) -> None:
        # key -> (hlc, origin, present, value)
        self._entries: dict[str, tuple[int, str, bool, Any]] = {}

    def value(self) -> dict[str, Any]:
        return {k: e[3] for k, e in self._entries.items() if e[2]}

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._entries.get(key)
        return entry[3] if entry is not None and entry[2] else default

    def writer(self, key: str) -> str | None:
        """The origin whose write holds ``key`` now (None if absent): who set this value."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[2] else None

    def local_set(self, origin: str, hlc: int, key: str, value: Any) -> list[Any]:
        op = ["s", key, value]
        self.apply(op, origin, hlc)
        return op

    def local_delete(self, origin: str, hlc: int, key: str) -> list[Any]:
        # Even for a key not seen here: the stamped delete still beats older sets.
        op = ["x", key]
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
        return len(self._entries)

    def apply(self, op: Any, origin: str, hlc: int) -> None:
        _check_op(op, origin, hlc)
        current = self._entries.get(op[1])
        if current is None or (hlc, origin) > (current[0], current[1]):
            present = op[0] == "s"
            self._entries[op[1]] = (hlc, origin, present, op[2] if present else None)

    def encode_state(self) -> bytes:
        rows = [[k, *e] for k, e in sorted(self._entries.items())]
        return bytes(msgpack.packb([_FORMAT, rows], use_bin_type=True))

    @classmethod
    def decode_state(cls, data: bytes) -> Self:
        try:
            fmt, rows = msgpack.unpackb(data, raw=False)
            doc = cls()
            if fmt != _FORMAT:
                raise ValueError(f"unknown format {fmt}")
            for key, hlc, origin, present, value in rows:
                if not isinstance(key, str) or type(hlc) is not int or not isinstance(origin, str):
                    raise ValueError("bad entry")
                doc._entries[key] = (hlc, origin, bool(present), value)
        except Exception as exc:  # msgpack raises several unrelated types
            raise MalformedInput(f"map state is malformed: {exc}") from None
        return doc
