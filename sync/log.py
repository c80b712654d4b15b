"""Per-origin logs held by a replica: sealed segments, application order, lookups.

Memory stays small because a sealed segment is kept as its compressed wire bytes and
decoded only when someone reads history (see Segment.changes / drop_decoded).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from sync.chain import Segment, genesis_hash
from sync.change import Change

__all__ = ["OrderRun", "OriginLog", "iter_order", "segment_rank"]


class OriginLog:
    """Everything a replica holds of one origin.

    `segments` are verified, contiguous from seq 1 and chained; changes up to `applied` are
    in the documents, the rest of the last segments waits for causal dependencies.
    `early` holds verified segments that arrived before their predecessor (bounded by the
    replica's buffer limit).
    """

    __slots__ = (
        "applied",
        "early",
        "head",
        "last_hlc",
        "origin",
        "sealed_hlc",
        "segments",
        "starts",
    )

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.applied = 0
        self.head = genesis_hash(origin)
        self.last_hlc = 0  # hlc of the last applied change
        self.sealed_hlc = 0  # hlc of the last change of the last held segment
        self.segments: list[Segment] = []
        self.starts: list[int] = []  # first_seq of each segment, for bisect
        self.early: dict[int, Segment] = {}

    @property
    def sealed_end(self) -> int:
        return self.segments[-1].last_seq if self.segments else 0

    def append(self, segment: Segment) -> None:
        self.segments.append(segment)
        self.starts.append(segment.first_seq)
        self.head = segment.head_hash

    def segment_at(self, seq: int) -> Segment | None:
        """The held segment containing `seq`, if any."""
        i = bisect.bisect_right(self.starts, seq) - 1
        if i < 0:
            return None
        segment = self.segments[i]
        return segment if seq <= segment.last_seq else None

    def change(self, seq: int) -> Change:
        segment = self.segment_at(seq)
        if segment is None:
            raise KeyError((self.origin, seq))
        return segment.changes[seq - segment.first_seq]

    def segments_after(self, seq: int) -> list[Segment]:
        """Held segments containing at least one change after `seq`."""
        i = max(bisect.bisect_right(self.starts, seq) - 1, 0)
        return [s for s in self.segments[i:] if s.last_seq > seq]

    def waiting(self) -> int:
        """Changes held but not applied (verified, waiting for their dependencies)."""
        return self.sealed_end - self.applied + sum(s.envelope.count for s in self.early.values())


class OrderRun:
    """Changes first..last of one origin, applied consecutively.  Typing extends one run."""

    __slots__ = ("first", "last", "origin")

    def __init__(self, origin: str, first: int, last: int) -> None:
        self.origin = origin
        self.first = first
        self.last = last

    def __repr__(self) -> str:
        return f"OrderRun({self.origin[:7]} {self.first}..{self.last})"


def iter_order(order: list[OrderRun]) -> Iterator[tuple[str, int]]:
    """(origin, seq) of every applied change, in local application order (a causal order)."""
    for run in order:
        for seq in range(run.first, run.last + 1):
            yield run.origin, seq


def segment_rank(order: list[OrderRun]) -> Callable[[str, int], int]:
    """rank(origin, first_seq): position in application order of a segment's first change.

    Sending or replaying segments by rank keeps dependencies ahead of their dependants,
    so receivers rarely buffer.  Never-applied segments rank last.
    """
    starts: dict[str, tuple[list[int], list[int]]] = {}
    for index, run in enumerate(order):
        firsts, indexes = starts.setdefault(run.origin, ([], []))
        firsts.append(run.first)
        indexes.append(index)

    def rank(origin: str, first_seq: int) -> int:
        entry = starts.get(origin)
        if entry is None:
            return len(order)
        i = bisect.bisect_right(entry[0], first_seq) - 1
        return entry[1][i] if i >= 0 else len(order)

    return rank
