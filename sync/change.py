"""The change: the unit of replication.

A change is what one local edit call produces: its origin (a node id), a sequence number
contiguous from 1 per origin, its causal dependencies, a hybrid-clock timestamp and the
operations it made on named documents.  Changes are plain immutable tuples so that creating
one on every keystroke costs a fraction of a microsecond: nothing is encoded, hashed or
signed until the log is sealed (see sync/chain.py).

Dependencies are a *delta*: change (O, s) implicitly depends on (O, s-1), and `deps` lists
only the latest (origin, seq) of every other origin that O applied since its previous
change.  Typing therefore carries no dependencies at all, and the full causal past of a
change is still recoverable by following the implicit same-origin chain.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeAlias

__all__ = ["Change", "Deps", "DocOp", "VersionVector", "covers", "deps_satisfied"]

DocOp: TypeAlias = tuple[str, str, Any]
"""(document name, document type, the document type's own operation)"""

Deps: TypeAlias = tuple[tuple[str, int], ...]
"""((origin, seq), ...) sorted by origin, origins distinct and never the change's own"""

VersionVector: TypeAlias = dict[str, int]
"""origin -> highest contiguous seq applied from that origin"""


class Change(NamedTuple):
    origin: str
    seq: int
    hlc: int
    deps: Deps
    ops: tuple[DocOp, ...]


def deps_satisfied(change: Change, vv: VersionVector) -> bool:
    """True when `vv` holds everything `change` causally needs (its predecessor and deps)."""
    if vv.get(change.origin, 0) != change.seq - 1:
        return False
    return all(vv.get(origin, 0) >= seq for origin, seq in change.deps)


def covers(vv: VersionVector, other: VersionVector) -> bool:
    """True when `vv` includes every change `other` includes."""
    return all(vv.get(origin, 0) >= seq for origin, seq in other.items())
