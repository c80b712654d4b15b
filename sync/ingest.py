"""Applying a batch of remote segments to a replica: validate everything, then mutate.

Phases, each of which may raise before any state changes:

1. envelopes: msgpack shape, sizes, batch limits (MalformedInput, TooLarge);
2. placement per origin: duplicates are skipped without even checking their signature
   (byte-identical to what we hold); anything else is signature-checked (BadSignature) and
   either extends the chain (prev_hash must equal our head), waits as an early arrival
   (bounded: BufferFull), or collides with what we hold: equivocation;
3. contents: bodies decoded (MalformedInput), clocks strictly increasing per origin and not
   in the future (ClockSkew), document types known and consistent (UnknownDocumentType,
   DocumentTypeMismatch);
4. scheduling in a causal order, then every op checked by its document's checker in that
   order (MalformedOp) -- still without touching a document;
5. application: ops that were checked cannot fail, so no document is ever snapshotted or
   rolled back (a snapshot would cost O(document) for every document a batch touches).

`ingest` is a generator that may pause between segments or changes from phase 3 on, as a
`Pace` (sync/pace.py) says: SyncStore.async_apply awaits at each pause, so a daemon keeps
serving pages while a big batch applies; Replica.apply_segments never pauses.

Equivocation does not refuse the batch: the origin's conflicting segment (and whatever of
that origin follows it in the batch) is dropped, both signed segments are recorded as
evidence, the first stays, and the rest of the batch applies atomically.  The result lists
what was refused (``IngestResult.equivocations``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from sync.chain import Segment, open_envelope, verify_head
from sync.change import Change
from sync.codec import SegmentEnvelope
from sync.documents import DOC_TYPES, new_document
from sync.errors import (
    BufferFull,
    ChainMismatch,
    DocumentTypeMismatch,
    Equivocation,
    MalformedInput,
    TooLarge,
    UnknownDocumentType,
)
from sync.log import OrderRun, OriginLog
from sync.pace import Pace

if TYPE_CHECKING:
    from sync.documents import Document
    from sync.replica import Replica

__all__ = ["IngestResult", "ingest"]


class IngestResult:
    __slots__ = ("applied", "duplicates", "equivocations", "waiting")

    def __init__(
        self,
        applied: list[Change],
        duplicates: int,
        waiting: int,
        equivocations: list[Equivocation] | None = None,
    ) -> None:
        self.applied = applied  # changes now in the documents, in application order
        self.duplicates = duplicates  # segments we already held (no-ops)
        self.waiting = waiting  # changes held for missing predecessors after this batch
        # segments refused as forks of what we hold (evidence recorded, rest applied)
        self.equivocations = equivocations or []

    def __repr__(self) -> str:
        return (
            f"IngestResult(applied={len(self.applied)}, dup={self.duplicates}, wait={self.waiting})"
        )


class _Plan:
    """What one origin's log will look like if the batch is accepted."""

    __slots__ = ("early", "end", "head", "log", "new", "sealed_hlc")

    def __init__(self, log: OriginLog) -> None:
        self.log = log
        self.end = log.sealed_end
        self.head = log.head
        self.sealed_hlc = log.sealed_hlc
        self.early = dict(log.early)
        self.new: list[Segment] = []

    def held(self, first_seq: int) -> Segment | None:
        segment = self.log.segment_at(first_seq) or self.early.get(first_seq)
        if segment is None:
            for staged in self.new:
                if staged.first_seq <= first_seq <= staged.last_seq:
                    return staged
        return segment


def _evidence(kept: Segment, raw: bytes, seq: int) -> Equivocation:
    exc = Equivocation(kept.origin, seq)
    exc.evidence = (kept.origin, seq, kept.raw, raw)
    return exc


def _check_contents(replica: Replica, plan: _Plan, segment: Segment, types: dict[str, str]) -> None:
    """`types` holds the documents this batch creates so far; the replica's own types are
    read without decoding a document."""
    changes = segment.changes  # decodes: MalformedInput on a bad body
    if changes[0].hlc <= plan.sealed_hlc:
        raise MalformedInput(f"clock of {segment.origin} went backwards at seq {segment.first_seq}")
    replica.clock.check(changes[-1].hlc)  # strictly increasing, so the last is the max
    docs = replica.docs
    for name, type_name in segment.docs:  # the segment's document table, not every op
        known = types.get(name) or docs.type_of(name)
        if known is None:
            if type_name not in DOC_TYPES:
                raise UnknownDocumentType(f"unknown document type {type_name!r} for {name!r}")
            types[name] = type_name
        elif known != type_name:
            raise DocumentTypeMismatch(f"{name!r} is a {known}, a change says {type_name}")
    plan.sealed_hlc = changes[-1].hlc


def _place(replica: Replica, plan: _Plan, env: SegmentEnvelope, raw: bytes) -> bool:
    """Stage one segment into `plan`; False for a duplicate.  Raises on anything wrong."""
    held = plan.held(env.first_seq)
    if held is not None and held.first_seq == env.first_seq and held.raw == raw:
        return False
    head = verify_head(env)  # only signed segments can be evidence or be accepted
    segment = Segment(env, head, raw, limits=replica.limits)
    if held is not None:
        if held.head_hash == head and held.first_seq == env.first_seq:
            return False  # same signed content, different msgpack spelling of the envelope
        raise _evidence(held, raw, env.first_seq)
    if env.first_seq <= plan.end:
        # overlaps a held segment that starts earlier: an honest origin never re-cuts
        covering = plan.held(env.first_seq)
        assert covering is not None
        raise _evidence(covering, raw, env.first_seq)
    if plan.log.origin == replica.node_id and env.first_seq <= replica.vv.get(replica.node_id, 0):
        raise Equivocation(
            replica.node_id, env.first_seq, "a peer holds our own seqs we never sealed"
        )
    if env.first_seq == plan.end + 1:
        _link(replica, plan, segment)
    else:
        plan.early[env.first_seq] = segment
    while plan.end + 1 in plan.early:
        _link(replica, plan, plan.early.pop(plan.end + 1))
    return True


def _link(replica: Replica, plan: _Plan, segment: Segment) -> None:
    if segment.envelope.prev_hash != plan.head:
        if plan.end == 0:
            raise ChainMismatch(f"first segment of {segment.origin} does not start at genesis")
        previous = plan.held(plan.end)
        assert previous is not None
        raise _evidence(previous, segment.raw, plan.end)
    plan.new.append(segment)
    plan.end = segment.last_seq
    plan.head = segment.head_hash


def ingest(replica: Replica, raws: list[bytes], pace: Pace) -> Generator[None, None, IngestResult]:
    """Validate then apply a batch, as a generator that pauses (yields) when `pace` says
    so, always between two segments or two changes; the result is its return value.

    An error can come out of any ``next()`` until the checks are done, always with
    nothing changed.  Once applying has begun, a reader between two pauses sees the
    documents with a causal prefix of the batch applied, never half a change; the
    caller must drive it to the end (applying checked ops cannot fail).  The replica's
    version vector, logs and journal are updated after the last pause."""
    limits = replica.limits
    if len(raws) > limits.max_batch_segments:
        raise TooLarge(f"batch of {len(raws)} segments (limit {limits.max_batch_segments})")
    envelopes = [open_envelope(raw, limits) for raw in raws]
    total = sum(env.count for env in envelopes)
    if total > limits.max_batch_changes:
        raise TooLarge(f"batch of {total} changes (limit {limits.max_batch_changes})")

    # phase 2: placement, per origin in sequence order
    plans: dict[str, _Plan] = {}
    duplicates = 0
    equivocations: list[Equivocation] = []
    forked: set[str] = set()  # origins whose rest of the batch is dropped
    order = sorted(range(len(raws)), key=lambda i: (envelopes[i].origin, envelopes[i].first_seq))
    for i in order:
        env = envelopes[i]
        if env.origin in forked:
            continue
        plan = plans.get(env.origin)
        if plan is None:
            log = replica.logs.get(env.origin) or OriginLog(env.origin)
            plan = plans[env.origin] = _Plan(log)
        try:
            if not _place(replica, plan, env, raws[i]):
                duplicates += 1
        except Equivocation as exc:
            if exc.evidence is None:
                raise  # our own seqs in a peer's hands: refuse the whole batch
            # keep what we hold and what of this origin linked before the fork
            forked.add(env.origin)
            equivocations.append(exc)
    # phase 3: contents
    types: dict[str, str] = {}
    for plan in plans.values():
        for segment in plan.new:
            _check_contents(replica, plan, segment, types)  # decodes: about 1 ms
            if pace.due():
                yield
        for segment in plan.early.values():
            if segment not in plan.log.early.values():
                segment.changes  # noqa: B018 - decode now so a bad body is refused now
    waiting = sum(log.waiting() for o, log in replica.logs.items() if o not in plans)
    waiting += sum(
        p.end - p.log.applied + sum(s.envelope.count for s in p.early.values())
        for p in plans.values()
    )

    # phase 4: causal schedule, every op checked; phase 5: apply (cannot fail)
    applied, vv = _schedule(replica, plans)
    waiting -= len(applied)
    if waiting > replica.buffer_limit:
        raise BufferFull(
            f"{waiting} changes would wait for predecessors (limit {replica.buffer_limit})"
        )
    fresh, last_use = yield from _check_ops(replica, applied, pace)
    docs = replica.docs
    docs.update(fresh)
    done = _apply(replica, applied, 0, pace)
    while done < len(applied):
        # keep to the document budget while the batch goes on: a 1 MiB batch of wiki
        # saves touches thousands of pages; those it is done with can fold already
        # (_apply looks documents up again after a pause, so folding any is safe)
        docs.fold(_changed_from(last_use, done))
        yield
        done = _apply(replica, applied, done, pace)

    # commit: nothing below can fail
    for origin, plan in plans.items():
        log = plan.log
        replica.logs.setdefault(origin, log)
        for segment in plan.new:
            log.append(segment)
            replica.unsaved_segments.append(segment)
        log.sealed_hlc = plan.sealed_hlc
        log.early = plan.early
    for refused in equivocations:
        assert refused.evidence is not None
        replica.evidence.append(refused.evidence)
    max_hlc = 0
    order_runs = replica.order
    dirty = replica.dirty_docs
    position = replica.applied_total
    for change in applied:
        origin = change.origin
        log = replica.logs[origin]
        log.applied = change.seq
        log.last_hlc = change.hlc
        if change.hlc > max_hlc:
            max_hlc = change.hlc
        last = order_runs[-1] if order_runs else None
        if last is not None and last.origin == origin and last.last == change.seq - 1:
            last.last = change.seq
        else:
            order_runs.append(OrderRun(origin, change.seq, change.seq))
        replica.new_deps[origin] = change.seq
        for name, _type, _op in change.ops:
            entry = dirty.get(name)
            if entry is None:
                dirty[name] = [position, 1]
            else:
                entry[1] += 1
        position += 1
    replica.applied_total = position
    replica.vv.update(vv)
    replica.new_deps.pop(replica.node_id, None)
    replica.clock.observe(max_hlc)
    for plan in plans.values():
        for segment in plan.new:
            if segment.last_seq <= plan.log.applied:
                segment.drop_decoded()  # keep only the compact bytes once applied
    return IngestResult(applied, duplicates, waiting, equivocations)


def _changed_from(last_use: dict[str, int], index: int) -> Callable[[str], bool]:
    """Whether the batch changes a document at change `index` or later."""
    return lambda name: last_use.get(name, -1) >= index


def _schedule(replica: Replica, plans: dict[str, _Plan]) -> tuple[list[Change], dict[str, int]]:
    """The changes that become applicable, in a causal order, and the version vector after."""
    # every origin with verified changes still to apply: this batch's, and older ones that
    # were waiting for dependencies this batch may bring
    queues: list[list[Change]] = []
    logs = [p.log for p in plans.values()]
    logs += [
        log for o, log in replica.logs.items() if o not in plans and log.sealed_end > log.applied
    ]
    for log in logs:
        plan = plans.get(log.origin)
        queue: list[Change] = []
        for segment in log.segments_after(log.applied) + (plan.new if plan else []):
            queue.extend(c for c in segment.changes if c.seq > log.applied)
        if queue:
            queues.append(queue)
    vv = dict(replica.vv)
    applied: list[Change] = []
    positions = [0] * len(queues)
    progress = True
    while progress:
        progress = False
        for qi, queue in enumerate(queues):
            i = positions[qi]
            while i < len(queue):
                change = queue[i]
                origin, seq, _hlc, deps, _ops = change
                if vv.get(origin, 0) != seq - 1:
                    break
                if deps and any(vv.get(o, 0) < s for o, s in deps):
                    break
                vv[origin] = seq
                applied.append(change)
                i += 1
                progress = True
            positions[qi] = i
    return applied, vv


def _check_ops(
    replica: Replica, applied: list[Change], pace: Pace
) -> Generator[None, None, tuple[dict[str, Document], dict[str, int]]]:
    """Check every op in application order (MalformedOp); returns the documents to create,
    and the index in `applied` of the last change touching each document.  Pauses when
    `pace` says so: checking changes nothing, and nothing else changes the replica
    meanwhile (see Replica.apply_segments_in_steps)."""
    docs = replica.docs
    fresh: dict[str, Document] = {}
    checkers: dict[str, Callable[[Any, str, int], None]] = {}
    last_use: dict[str, int] = {}
    for index, (origin, _seq, hlc, _deps, ops) in enumerate(applied):
        for name, type_name, op in ops:
            check = checkers.get(name)
            if check is None:
                check = docs.checker(name)  # a folded document stays folded
                if check is None:
                    doc = fresh[name] = new_document(type_name)
                    check = doc.checker()
                checkers[name] = check
            check(op, origin, hlc)
            last_use[name] = index
        if pace.due():
            yield
    return fresh, last_use


def _apply(replica: Replica, applied: list[Change], start: int, pace: Pace) -> int:
    """Apply the checked changes from `start` on until `pace` says to pause; returns the
    index of the first change not applied."""
    docs = replica.docs
    last_name: str | None = None
    apply_op: Callable[[Any, str, int], None] | None = None
    for index in range(start, len(applied)):
        origin, _seq, hlc, _deps, ops = applied[index]
        for name, _type, op in ops:
            if name != last_name:  # consecutive ops mostly hit one document
                apply_op = docs[name].apply_checked
                last_name = name
            assert apply_op is not None
            apply_op(op, origin, hlc)
        if pace.due():
            return index + 1
    return len(applied)
