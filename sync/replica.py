"""The replica: one box's copy of every document, its change log and version vector.

Pure and synchronous: no I/O, no asyncio.  sync/store.py persists it, sync/protocol.py
carries its segments between boxes.

Local edits produce exactly one change per call and cost a few microseconds beyond the
document operation itself: the change is appended to the columns of the next segment body
(`ChangeColumns`: clocks, op counts, document indexes and op leaves in flat lists), and the
Change tuple handed back is not kept.  Retaining every unsealed Change and its op lists
until sealing cost more than the edits themselves: millions of small tracked containers
aged through the collector's generations and set off full collections over the whole heap.
Chaining and the single Ed25519 signature happen in `seal()`, which packs those columns;
the store calls it when it commits, and it runs on its own every `seal_every` changes so
memory stays bounded.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sync.chain import Segment, seal_columns
from sync.change import Change, DocOp, VersionVector
from sync.codec import MAX_DOC_NAME, ChangeColumns, Limits, wire_value
from sync.document_map import Documents
from sync.documents import DOC_TYPES, Document, new_document
from sync.errors import DocumentTypeMismatch, UnencodableValue
from sync.history import HistoryEntry, document_history, value_at
from sync.hlc import HybridClock
from sync.identity import Identity
from sync.ingest import IngestResult, ingest
from sync.log import OrderRun, OriginLog, segment_rank
from sync.pace import NEVER, Pace

__all__ = ["Listener", "Replica", "collector_paused", "mark_dirty"]

Listener = Callable[[list[Change], bool], None]
"""Called after changes were applied: (changes, local).  Must not raise."""

_new_change = tuple.__new__
DEFAULT_SEAL_EVERY = 4096
DEFAULT_BUFFER_LIMIT = 65_536
MAX_SEGMENT_BYTES = 1 << 20  # one segment always fits in one BATCH frame of the protocol


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a batch is applied.

    A batch allocates hundreds of thousands of small containers (decoded ops, changes,
    text items), which triggers full collections that re-walk every live object of every
    document: measured at 80 % of the decoding time of a wiki batch.  Reference counting
    frees as usual meanwhile.

    At the end, whatever the batch left alive (new document items, and the applied
    changes the caller still holds) is moved straight into the oldest generation, with
    ``gc.freeze()`` then ``gc.unfreeze()`` (two list splices), instead of being walked by
    the young collections that resuming would trigger: 1.5 s of the 11 s it took to
    apply 100,000 wiki changes.  It is long-lived data, and the engine makes no cyclic
    garbage (tests/sync/test_collector.py checks both); a cycle elsewhere in the
    process is only collected later, by the next full collection.  Objects that someone
    else froze are left frozen: the move is skipped while any are.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()  # into the oldest generation, unscanned
            gc.enable()


def mark_dirty(dirty: dict[str, list[int]], name: str, position: int) -> None:
    """Note that one op of change number `position` touched document `name`."""
    entry = dirty.get(name)
    if entry is None:
        dirty[name] = [position, 1]
    else:
        entry[1] += 1


class Replica:
    def __init__(
        self,
        identity: Identity,
        *,
        clock: HybridClock | None = None,
        limits: Limits | None = None,
        seal_every: int = DEFAULT_SEAL_EVERY,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        document_budget: int | None = None,
    ) -> None:
        """`document_budget`: the size (sum of size_hint(): text items, map and set
        entries) of the decoded documents kept after a batch or a commit; the least
        recently used beyond it fold back into bytes (sync/document_map.py).  None keeps
        every document decoded once used."""
        self.identity = identity
        self.node_id = identity.node_id
        self.clock = clock or HybridClock()
        self.limits = limits or Limits()
        self.seal_every = min(seal_every, self.limits.max_segment_changes)
        self.buffer_limit = buffer_limit
        # a loaded replica's documents decode on first use (see sync/document_map.py)
        self.docs = Documents(document_budget)
        self._own_log = OriginLog(self.node_id)
        self._own_run: OrderRun | None = None
        self.logs: dict[str, OriginLog] = {self.node_id: self._own_log}
        self.vv: VersionVector = {}
        # local changes not sealed yet, as the columns of their segment body
        self._unsealed = ChangeColumns()
        self._unsealed_first = 1  # seq of its first change
        self.new_deps: dict[str, int] = {}  # remote progress since our last local change
        self.order: list[OrderRun] = []
        self.listeners: list[Listener] = []
        # journal drained by the store after each durable commit.  Changes are numbered
        # 0, 1, 2... in application order (`applied_total` is the next number); a dirty
        # document maps to the number of the first change it received since its state was
        # last stored, so the store can replay from there at load (see sync/store.py).
        self.applied_total = 0
        self.dirty_docs: dict[str, list[int]] = {}  # name -> [first change, ops since]
        self.unsaved_segments: list[Segment] = []
        self.saved_order = 0  # runs before this index are persisted (the last may grow)
        self.evidence: list[tuple[str, int, bytes, bytes]] = []  # (origin, seq, kept, rejected)
        # highest local seq a peer may be sent; None means everything sealed (no store)
        self.offer_limit: int | None = None

    # --- reading -------------------------------------------------------------------------

    @property
    def pending(self) -> list[Change]:
        """Local changes not sealed yet, rebuilt from their columns (ops as a peer decodes
        them).  A fresh list on every read: for history, not for a hot loop."""
        return self._unsealed.changes(self.node_id, self._unsealed_first)

    def pending_count(self) -> int:
        """How many local changes wait for seal()."""
        return len(self._unsealed)

    def value(self, name: str) -> Any:
        """Current value: str for text, dict for map, frozenset for set.  KeyError if absent."""
        return self.docs[name].value()

    def text(self, name: str) -> str:
        doc = self.docs.get(name)
        if doc is None:
            return ""
        value = doc.value()
        if not isinstance(value, str):
            raise DocumentTypeMismatch(f"{name!r} is a {doc.type_name}, not a text")
        return value

    def documents(self) -> dict[str, str]:
        """name -> type of every document (none is decoded for it)."""
        return self.docs.types()

    def version_vector(self) -> VersionVector:
        return dict(self.vv)

    def writer(self, name: str, key: str) -> str | None:
        """The origin of the write that holds ``key`` of the map ``name`` now, if any."""
        doc = self.docs.get(name)
        if doc is None or doc.type_name != "map":
            return None
        origin: str | None = doc.writer(key)  # type: ignore[attr-defined]
        return origin

    def public_key(self, origin: str) -> bytes | None:
        """The Ed25519 key of an origin whose signed changes this replica holds: every
        segment carries it and ingest checked it against the origin's id."""
        if origin == self.node_id:
            return self.identity.public_bytes
        log = self.logs.get(origin)
        if log is None or not log.segments:
            return None
        return log.segments[0].envelope.public_key

    def history(self, name: str) -> list[HistoryEntry]:
        """Changes that touched `name`, oldest first, each with the version it produced."""
        return document_history(self, name)

    def value_at(self, name: str, version: VersionVector) -> Any:
        """The value of `name` at a past (causally closed) version, e.g. a history entry's."""
        return value_at(self, name, version)

    # --- local edits: one change per call --------------------------------------------------

    def _doc(self, name: str, type_name: str) -> Document:
        doc = self.docs.get(name)
        if doc is None:
            if not isinstance(name, str) or not 0 < len(name) <= MAX_DOC_NAME:
                # every peer would refuse the segment holding it (PROTOCOL.md)
                raise UnencodableValue(f"document name must be 1-{MAX_DOC_NAME} characters")
            doc = self.docs[name] = new_document(type_name)
        elif doc.type_name != type_name:
            raise DocumentTypeMismatch(f"{name!r} is a {doc.type_name}, not a {type_name}")
        return doc

    def _commit_local(
        self, ops: tuple[DocOp, ...], hlc: int | None = None, name: str | None = None
    ) -> Change | None:
        """Record local ops as one change.  The hot path of typing: keep it lean."""
        if not ops:
            return None
        origin = self.node_id
        log = self._own_log
        seq = log.applied + 1
        if hlc is None:
            hlc = self.clock.now()
        deps: tuple[tuple[str, int], ...] = ()
        if self.new_deps:
            deps = tuple(sorted(self.new_deps.items()))
            self.new_deps.clear()
        unsealed = self._unsealed
        if not unsealed.counts:
            self._unsealed_first = seq
        unsealed.add(hlc, deps, ops)
        self.vv[origin] = seq
        log.applied = seq
        log.last_hlc = hlc
        run = self._own_run
        if run is not None and run.last == seq - 1 and self.order[-1] is run:
            run.last = seq
        else:
            run = self._own_run = OrderRun(origin, seq, seq)
            self.order.append(run)
        position = self.applied_total
        self.applied_total = position + 1
        dirty = self.dirty_docs
        if name is not None:
            entry = dirty.get(name)
            if entry is None:
                dirty[name] = [position, len(ops)]
            else:
                entry[1] += len(ops)
        else:
            for doc_name, _type, _op in ops:
                mark_dirty(dirty, doc_name, position)
        change = _new_change(Change, (origin, seq, hlc, deps, ops))  # skips NamedTuple.__new__
        if self.listeners:
            self._notify([change], True)
        if len(unsealed.counts) >= self.seal_every:
            self.seal()
        return change

    def _text(self, name: str) -> Document:
        doc = self.docs.get(name)
        if doc is None or doc.type_name != "text":
            doc = self._doc(name, "text")
        return doc

    def insert_text(self, name: str, pos: int, text: str) -> Change | None:
        op = self._text(name).local_insert(self.node_id, pos, text)  # type: ignore[attr-defined]
        return self._commit_local(((name, "text", op),) if op is not None else (), None, name)

    def delete_text(self, name: str, pos: int, length: int) -> Change | None:
        op = self._text(name).local_delete(self.node_id, pos, length)  # type: ignore[attr-defined]
        return self._commit_local(((name, "text", op),) if op is not None else (), None, name)

    def splice_text(self, name: str, pos: int, delete: int, insert: str) -> Change | None:
        """Delete then insert at one position, as a single change (one editor patch)."""
        doc = self.docs.get(name)
        if doc is None or doc.type_name != "text":
            doc = self._doc(name, "text")
        origin = self.node_id
        if delete:
            removed = doc.local_delete(origin, pos, delete)  # type: ignore[attr-defined]
            if insert:
                added = doc.local_insert(origin, pos, insert)  # type: ignore[attr-defined]
                if removed is not None and added is not None:
                    ops: tuple[DocOp, ...] = ((name, "text", removed), (name, "text", added))
                else:
                    ops = tuple((name, "text", op) for op in (removed, added) if op is not None)
            else:
                ops = ((name, "text", removed),) if removed is not None else ()
        elif insert:
            added = doc.local_insert(origin, pos, insert)  # type: ignore[attr-defined]
            ops = ((name, "text", added),) if added is not None else ()
        else:
            return None
        return self._commit_local(ops, None, name)

    def edit_text(self, name: str, patches: Iterable[tuple[int, int, str]]) -> Change | None:
        """Several (pos, delete, insert) patches, each relative to the text left by the
        previous one (the editing-trace format), as a single change."""
        doc = self._text(name)
        origin = self.node_id
        ops: list[DocOp] = []
        for pos, delete, insert in patches:
            if delete:
                op = doc.local_delete(origin, pos, delete)  # type: ignore[attr-defined]
                if op is not None:
                    ops.append((name, "text", op))
            if insert:
                op = doc.local_insert(origin, pos, insert)  # type: ignore[attr-defined]
                if op is not None:
                    ops.append((name, "text", op))
        return self._commit_local(tuple(ops), None, name)

    def replace_text(self, name: str, new_text: str) -> Change | None:
        """The wiki's save: diff against the current text, one change with the minimal ops."""
        doc = self._doc(name, "text")
        ops = doc.local_replace(self.node_id, new_text)  # type: ignore[attr-defined]
        return self._commit_local(tuple((name, "text", op) for op in ops), None, name)

    def set_key(self, name: str, key: str, value: Any) -> Change | None:
        """Set `key` to `value` (anything msgpack carries: UnencodableValue otherwise); the
        map then holds the value as peers decode it (a tuple becomes a list)."""
        value = wire_value(value)
        doc = self._doc(name, "map")
        hlc = self.clock.now()
        op = doc.local_set(self.node_id, hlc, key, value)  # type: ignore[attr-defined]
        return self._commit_local(((name, "map", op),), hlc, name)

    def delete_key(self, name: str, key: str) -> Change | None:
        doc = self._doc(name, "map")
        hlc = self.clock.now()
        op = doc.local_delete(self.node_id, hlc, key)  # type: ignore[attr-defined]
        return self._commit_local(((name, "map", op),) if op is not None else (), hlc, name)

    def add_element(self, name: str, element: Any) -> Change | None:
        doc = self._doc(name, "set")
        hlc = self.clock.now()
        op = doc.local_add(self.node_id, hlc, element)  # type: ignore[attr-defined]
        return self._commit_local(((name, "set", op),), hlc, name)

    def remove_element(self, name: str, element: Any) -> Change | None:
        doc = self._doc(name, "set")
        hlc = self.clock.now()
        op = doc.local_remove(self.node_id, hlc, element)  # type: ignore[attr-defined]
        return self._commit_local(((name, "set", op),) if op is not None else (), hlc, name)

    # --- sealing and exchange -------------------------------------------------------------

    def seal(self) -> list[Segment]:
        """Seal pending local changes into signed segments (one signature each)."""
        unsealed = self._unsealed
        if not unsealed.counts:
            return []
        self._unsealed = ChangeColumns()
        first = self._unsealed_first
        step = self.seal_every
        if len(unsealed) <= step:
            batches = [(first, unsealed)]
        else:  # seal_every was lowered since these changes were made
            changes = unsealed.changes(self.node_id, first)
            batches = [
                (first + at, ChangeColumns.of(changes[at : at + step]))
                for at in range(0, len(changes), step)
            ]
        out: list[Segment] = []
        log = self._own_log
        for batch_first, batch in batches:
            for segment in self._seal_fitting(log.head, batch_first, batch):
                segment.drop_decoded()  # the wire bytes are the compact form we keep
                log.append(segment)
                out.append(segment)
        log.sealed_hlc = log.last_hlc
        self.unsaved_segments.extend(out)
        return out

    def _seal_fitting(self, prev_hash: bytes, first: int, batch: ChangeColumns) -> list[Segment]:
        """Seal `batch`, halving it until each segment fits in a batch frame."""
        segment = seal_columns(self.identity, prev_hash, first, batch)
        if len(segment.raw) <= MAX_SEGMENT_BYTES or len(batch) == 1:
            return [segment]
        changes = batch.changes(self.node_id, first)
        half = len(changes) // 2
        head = self._seal_fitting(prev_hash, first, ChangeColumns.of(changes[:half]))
        return head + self._seal_fitting(
            head[-1].head_hash, first + half, ChangeColumns.of(changes[half:])
        )

    def origins(self) -> list[str]:
        """Every origin we hold segments or state of."""
        return list(self.logs)

    def changes_since(self, vv: VersionVector) -> list[bytes]:
        """Encoded segments holding every sealed change `vv` lacks, in a causal-friendly order.

        Segments are sent whole; the receiver skips what it already has.  Pending local
        changes are not included: call seal() (the store's commit does) first.
        """
        rank = segment_rank(self.order)
        out: list[tuple[int, bytes]] = []
        for origin, log in self.logs.items():
            known = vv.get(origin, 0)
            limit = self.offer_limit if origin == self.node_id else None
            for segment in log.segments_after(known):
                if limit is not None and segment.last_seq > limit:
                    break
                out.append((rank(origin, segment.first_seq), segment.raw))
        # in our application order, so the receiver rarely has to buffer for dependencies
        out.sort(key=lambda item: item[0])
        return [raw for _rank, raw in out]

    def apply_segments(self, raws: Iterable[bytes]) -> IngestResult:
        """Validate and apply a batch of remote segments atomically.

        Raises a SyncError subclass and changes nothing on bad input.  Equivocating
        segments are refused alone: evidence recorded, the rest applied, and the refusals
        listed in the result (see PROTOCOL.md).  Duplicates are no-ops.
        """
        try:
            next(self._applying(raws, Pace(NEVER)))
        except StopIteration as done:
            result: IngestResult = done.value
            return result
        raise AssertionError("a batch paused with no slice to end")

    def apply_segments_in_steps(self, raws: Iterable[bytes]) -> Generator[None, None, IngestResult]:
        """apply_segments() that pauses every slice (sync/pace.py) while it checks and
        applies, so that an event loop can serve others between the steps
        (SyncStore.async_apply); the result is its return value.

        Bad input raises from a ``next()`` before anything changed, as apply_segments()
        does.  Once applying, between steps the documents hold a causal prefix of the
        batch, whole changes only; the version vector and logs follow at the end.  The
        caller must drive it to the end, and make no other change to this replica
        meanwhile (the daemon holds its write lock)."""
        return self._applying(raws, Pace())

    def _applying(self, raws: Iterable[bytes], pace: Pace) -> Generator[None, None, IngestResult]:
        with collector_paused():
            result = yield from ingest(self, list(raws), pace)
            self.docs.fold()
        if result.applied and self.listeners:
            self._notify(result.applied, False)
        return result

    # --- subscriptions --------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(changes, local)` after every applied change; returns unsubscribe."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def _notify(self, changes: list[Change], local: bool) -> None:
        for listener in list(self.listeners):
            listener(changes, local)

    @staticmethod
    def known_types() -> tuple[str, ...]:
        return tuple(DOC_TYPES)
