"""A document's history and its past versions, replayed from the change log.

The log keeps segments compressed; reading history decodes them once per call into a cache
that lives only for that call, so browsing history never bloats the running replica.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from sync.change import Change, VersionVector
from sync.codec import decode_segment_body
from sync.documents import new_document
from sync.errors import IncompleteVersion

if TYPE_CHECKING:
    from sync.replica import Replica

__all__ = ["HistoryEntry", "document_history", "iter_applied", "value_at"]

_DECODED_SEGMENTS = 64


class HistoryEntry(NamedTuple):
    origin: str
    seq: int
    hlc: int
    version: VersionVector  # the replica's version right after this change: pass to value_at


def iter_applied(replica: Replica) -> Iterator[Change]:
    """Every applied change in local application order (a causal order)."""
    # Decoded segments, most recent last.  Bounded: walking a long history must not hold
    # every change decoded at once (a run rarely returns to a segment far behind it).
    cache: OrderedDict[tuple[str, int], list[Change]] = OrderedDict()
    own = replica.logs[replica.node_id]
    pending: list[Change] | None = None  # unsealed local changes, rebuilt once if reached
    for run in replica.order:
        log = replica.logs[run.origin]
        for seq in range(run.first, run.last + 1):
            if run.origin == replica.node_id and seq > own.sealed_end:
                if pending is None:
                    pending = replica.pending
                yield pending[seq - own.sealed_end - 1]
                continue
            segment = log.segment_at(seq)
            assert segment is not None, (run.origin, seq)
            key = (run.origin, segment.first_seq)
            decoded = cache.get(key)
            if decoded is None:
                decoded = cache[key] = (
                    segment.changes
                    if segment.is_decoded
                    else decode_segment_body(segment.envelope, segment.limits)
                )
                if len(cache) > _DECODED_SEGMENTS:
                    cache.popitem(last=False)
            yield decoded[seq - segment.first_seq]


def document_history(replica: Replica, name: str) -> list[HistoryEntry]:
    """The changes that touched `name`, oldest first, each with the version it produced."""
    out: list[HistoryEntry] = []
    version: VersionVector = {}
    for change in iter_applied(replica):
        version[change.origin] = change.seq
        if any(op[0] == name for op in change.ops):
            out.append(HistoryEntry(change.origin, change.seq, change.hlc, dict(version)))
    return out


def value_at(replica: Replica, name: str, version: VersionVector) -> Any:
    """The value `name` had at `version`, which must be causally closed."""
    type_name = replica.docs.type_of(name)  # the current state is not needed: not decoded
    if type_name is None:
        raise KeyError(name)
    doc = new_document(type_name)
    for change in iter_applied(replica):
        if change.seq > version.get(change.origin, 0):
            continue
        for origin, seq in change.deps:
            if version.get(origin, 0) < seq:
                raise IncompleteVersion(
                    f"version includes {change.origin[:7]}:{change.seq} but not its "
                    f"dependency {origin[:7]}:{seq}"
                )
        for doc_name, _type, op in change.ops:
            if doc_name == name:
                doc.apply(op, change.origin, change.hlc)
    return doc.value()
