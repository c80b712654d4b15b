"""Persistence of a replica in SQLite, through the daemon's single aiosqlite writer.

The store is a thin adapter: the replica keeps a journal of what changed (new segments,
dirty documents, order runs, evidence) and `async_commit` writes all of it in ONE
transaction with executemany, so a remote batch costs a handful of thread hops whatever its
size.  Start-up reads the stored document states and the segment bytes; a state is decoded
when its document is first used (sync/document_map.py), so a box that serves a few pages
of a large wiki never decodes the rest.

Document states are written lazily: re-encoding a document costs O(document), so a
document's state is rewritten only once the ops it received since its stored state are
worth it (at least `SNAPSHOT_MIN_OPS`, and at least its size / `SNAPSHOT_SIZE_RATIO`:
re-encoding then costs O(1) per op, and replaying them at load about as much as decoding),
when the oldest of them is `MAX_REPLAY_CHANGES` changes old, or at a checkpoint.  Each
stored state records `as_of`, the number of changes (in application order) it includes;
`sync_meta.replay_from` is the first change some stored state lacks.  Load replays, from
the stored segments, only the ops of changes from `replay_from` on, each for the documents
whose state lacks it (decoding just those): a bounded replay, never the full history.
Everything is written in one transaction, so whatever a crash leaves is consistent.

Durability: the daemon opens the database in WAL mode with synchronous=FULL.  A change is
*acknowledged* once `async_commit` (or `async_apply`) has returned; a crash before that loses
at most unacknowledged local edits, which were never offered to a peer (the replica only
offers local segments up to `offer_limit`, which the store advances after each commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator
from typing import Any

import aiosqlite
import msgpack

from sync.chain import Segment, open_envelope
from sync.change import Change
from sync.codec import Limits, unpack
from sync.documents import new_document
from sync.errors import MalformedInput
from sync.hlc import HybridClock
from sync.identity import Identity
from sync.ingest import IngestResult
from sync.log import OrderRun, OriginLog, segment_rank
from sync.pace import Pace
from sync.replica import Replica, collector_paused, mark_dirty

__all__ = ["SyncStore"]

_TABLES = (
    "sync_origin",
    "sync_segment",
    "sync_document",
    "sync_order",
    "sync_evidence",
    "sync_meta",
)


SNAPSHOT_MIN_OPS = 64
SNAPSHOT_SIZE_RATIO = 1  # ops since the stored state >= its size: rewrite it
MAX_REPLAY_CHANGES = 50_000  # no stored state lags more changes behind than this


class SyncStore:
    """Reads and writes one replica's tables.  Borrows the connection; never closes it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # --- loading ---------------------------------------------------------------------------

    async def async_load(self, identity: Identity, **replica_options: Any) -> Replica:
        """The replica as last committed: stored states (decoded on first use) and the
        bounded replay of what they lack."""
        replica = Replica(identity, **replica_options)
        limits = replica.limits
        conn = self.conn
        as_of: dict[str, int] = {}
        docs = replica.docs
        async with conn.execute("SELECT name, type, state, as_of FROM sync_document") as cursor:
            async for name, type_name, state, doc_as_of in cursor:
                docs.add_stored(name, type_name, state)  # decoded when first used
                as_of[name] = doc_as_of
        async with conn.execute(
            "SELECT origin, applied, head, sealed_hlc, last_hlc FROM sync_origin"
        ) as cursor:
            async for origin, applied, _head, sealed_hlc, last_hlc in cursor:
                log = replica.logs.get(origin) or OriginLog(origin)
                replica.logs[origin] = log
                log.applied, log.sealed_hlc, log.last_hlc = applied, sealed_hlc, last_hlc
                if applied:
                    replica.vv[origin] = applied
        async with conn.execute(
            "SELECT origin, head, data FROM sync_segment ORDER BY origin, first_seq"
        ) as cursor:
            async for origin, head, data in cursor:
                # stored segments were verified when they arrived: no signature check here
                envelope = open_envelope(data, limits)
                replica.logs[origin].append(Segment(envelope, head, data, limits=limits))
        async with conn.execute(
            "SELECT origin, first_seq, last_seq FROM sync_order ORDER BY pos"
        ) as cursor:
            replica.order = [OrderRun(o, f, la) async for o, f, la in cursor]
        replica.saved_order = len(replica.order)
        replica.applied_total = sum(run.last - run.first + 1 for run in replica.order)
        async with conn.execute("SELECT key, value FROM sync_meta") as cursor:
            meta = {key: value async for key, value in cursor}
        if "new_deps" in meta:
            deps = unpack(meta["new_deps"], "stored new_deps")
            if not isinstance(deps, dict):
                raise MalformedInput("stored new_deps is not a map")
            replica.new_deps = deps
        if "clock" in meta:
            replica.clock.observe(int(meta["clock"]))
        await _replay(replica, int(meta.get("replay_from", replica.applied_total)), as_of)
        replica.offer_limit = replica.logs[replica.node_id].sealed_end
        return replica

    # --- writing ---------------------------------------------------------------------------

    async def async_commit(self, replica: Replica, *, checkpoint: bool = False) -> None:
        """Seal pending local changes and write everything new in one transaction.

        `checkpoint` stores every dirty document's state (e.g. at shutdown), so the next
        load replays nothing."""
        replica.seal()
        segments = list(replica.unsaved_segments)
        position = replica.applied_total
        dirty = [
            name
            for name, (first, ops) in replica.dirty_docs.items()
            if checkpoint
            or position - first >= MAX_REPLAY_CHANGES
            or (
                ops >= SNAPSHOT_MIN_OPS
                and ops * SNAPSHOT_SIZE_RATIO >= replica.docs.size_hint(name)
            )
        ]
        # Thousands of states may be due at once (the replay bound): other tasks run
        # between slices of them (sync/pace.py).  Nothing else changes the replica
        # meanwhile (the caller holds the daemon's write lock), and nothing is written
        # before all are encoded.
        states: list[tuple[str, str, bytes, int]] = []
        docs = replica.docs
        pace = Pace()
        with collector_paused():
            for name in dirty:
                type_name, state = docs.state_of(name)  # folded: its bytes as they are
                states.append((name, type_name, state, position))
                if pace.due():
                    await asyncio.sleep(0)
        stored = set(dirty)
        replay_from = min(
            (first for name, (first, _ops) in replica.dirty_docs.items() if name not in stored),
            default=position,
        )
        start = max(replica.saved_order - 1, 0)
        runs = [
            (pos, r.origin, r.first, r.last) for pos, r in enumerate(replica.order[start:], start)
        ]
        evidence = list(replica.evidence)
        conn = self.conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if segments:
                await conn.executemany(
                    "INSERT INTO sync_segment (origin, first_seq, last_seq, head, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(s.origin, s.first_seq, s.last_seq, s.head_hash, s.raw) for s in segments],
                )
            if dirty:
                await conn.executemany(
                    "INSERT OR REPLACE INTO sync_document (name, type, state, as_of) "
                    "VALUES (?, ?, ?, ?)",
                    states,
                )
            if runs:
                await conn.executemany(
                    "INSERT OR REPLACE INTO sync_order (pos, origin, first_seq, last_seq) "
                    "VALUES (?, ?, ?, ?)",
                    runs,
                )
            await conn.executemany(
                "INSERT OR REPLACE INTO sync_origin "
                "(origin, applied, head, sealed_hlc, last_hlc) VALUES (?, ?, ?, ?, ?)",
                [
                    (o, log.applied, log.head, log.sealed_hlc, log.last_hlc)
                    for o, log in replica.logs.items()
                    if log.segments or log.applied
                ],
            )
            if evidence:
                await conn.executemany(
                    "INSERT OR IGNORE INTO sync_evidence (origin, seq, kept, rejected) "
                    "VALUES (?, ?, ?, ?)",
                    evidence,
                )
            await conn.executemany(
                "INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, ?)",
                [
                    ("new_deps", msgpack.packb(replica.new_deps)),
                    ("clock", replica.clock.last),
                    ("replay_from", replay_from),
                ],
            )
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        # the journal is cleared only once the data is durable
        del replica.unsaved_segments[: len(segments)]
        for name in dirty:
            del replica.dirty_docs[name]
        replica.saved_order = len(replica.order)
        del replica.evidence[: len(evidence)]
        replica.offer_limit = replica.logs[replica.node_id].sealed_end
        # Local edits and reads decode documents too, thousands after a wiki reindex
        # read every page: fold them a slice at a time, other tasks running between (the
        # caller still holds the write lock, so nothing changes a document meanwhile).
        folded = docs.fold(pace=pace)
        while folded:
            await asyncio.sleep(0)
            folded = docs.fold(pace=pace)

    async def async_apply(self, replica: Replica, raws: list[bytes]) -> IngestResult:
        """Apply a remote batch and persist it in one transaction.  On a SyncError the
        replica and the store are unchanged and the error propagates; equivocating
        segments are refused alone (see Replica.apply_segments) and their evidence is
        stored with the rest of the batch."""
        result = await _applied_in_steps(replica.apply_segments_in_steps(raws))
        await self.async_commit(replica)
        return result

    async def async_evidence(self) -> list[tuple[str, int, bytes, bytes]]:
        async with self.conn.execute(
            "SELECT origin, seq, kept, rejected FROM sync_evidence ORDER BY id"
        ) as cursor:
            return [(o, s, k, r) async for o, s, k, r in cursor]

    # --- rebuilding and checking -----------------------------------------------------------

    async def async_rebuild(
        self, identity: Identity, clock: HybridClock | None = None, limits: Limits | None = None
    ) -> Replica:
        """A fresh replica fed only the stored segments (signatures checked): for audits."""
        replica = Replica(identity, clock=clock, limits=limits, buffer_limit=1 << 62)
        async with self.conn.execute(
            "SELECT origin, first_seq, last_seq FROM sync_order ORDER BY pos"
        ) as cursor:
            order = [OrderRun(o, f, la) async for o, f, la in cursor]
        async with self.conn.execute("SELECT origin, first_seq, data FROM sync_segment") as cursor:
            rows = [(o, f, d) async for o, f, d in cursor]
        rank = segment_rank(order)
        rows.sort(key=lambda row: rank(row[0], row[1]))
        batch: list[bytes] = []
        count = 0
        for _origin, _first, data in rows:
            envelope = open_envelope(data, replica.limits)
            if batch and (
                count + envelope.count > replica.limits.max_batch_changes
                or len(batch) >= replica.limits.max_batch_segments
            ):
                replica.apply_segments(batch)
                batch, count = [], 0
            batch.append(data)
            count += envelope.count
        if batch:
            replica.apply_segments(batch)
        return replica

    async def async_dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, sorted: tests compare dumps before and after."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in _TABLES:
            async with self.conn.execute(f"SELECT * FROM {table}") as cursor:  # noqa: S608
                rows = [tuple(row) async for row in cursor]
            out[table] = sorted(rows)
        return out

    async def async_integrity_check(self) -> str:
        async with self.conn.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else "no answer"


async def _applied_in_steps(steps: Generator[None, None, IngestResult]) -> IngestResult:
    """Drive Replica.apply_segments_in_steps, letting other tasks run between its steps: a
    1 MiB batch from a peer takes most of a second here (several on a Pi), and visitors'
    pages would wait for all of it.  Cancelled between steps (the peer went away, the
    daemon stops), it still finishes the batch before the cancellation goes on: checked
    changes cannot fail to apply, and a replica left half-applied would be wrong."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: IngestResult = done.value
            return result
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            for _step in steps:
                pass
            raise


def _changes_from(replica: Replica, replay_from: int) -> Iterator[Change]:
    """The applied changes numbered `replay_from` on, in application order.  A segment is
    dropped back to its bytes once its last change was replayed (an origin's changes come
    in order, so none of it is needed again): freeing every decoded segment at the end
    stalled the event loop for about a second after a 50,000-change replay."""
    position = 0
    for run in replica.order:
        length = run.last - run.first + 1
        if position + length <= replay_from:
            position += length
            continue
        log = replica.logs[run.origin]
        first = run.first + max(replay_from - position, 0)
        position += run.last + 1 - run.first
        for seq in range(first, run.last + 1):
            segment = log.segment_at(seq)
            if segment is None:
                raise MalformedInput(f"stored order names {run.origin}:{seq}, not stored")
            yield segment.changes[seq - segment.first_seq]
            if seq == segment.last_seq:
                segment.drop_decoded()


async def _replay(replica: Replica, replay_from: int, as_of: dict[str, int]) -> None:
    """Re-apply the changes numbered `replay_from` on to the documents whose stored state
    lacks them, and mark those documents dirty again (their state is still not stored).
    Only those documents are decoded.

    Up to MAX_REPLAY_CHANGES changes take seconds: other tasks run between slices of
    them (sync/pace.py; nothing else holds this replica yet, so the result is the same).  The
    collector stays paused for the whole replay, those turns included, as it was before
    the replay yielded: re-enabled between slices, its collections made the replay of a
    10,000-page wiki's 50,000 changes about 10 % slower."""
    docs = replica.docs
    dirty = replica.dirty_docs
    changes = _changes_from(replica, replay_from)
    pace = Pace()
    with collector_paused():
        for position, change in enumerate(changes, replay_from):
            for name, type_name, op in change.ops:
                if position < as_of.get(name, 0):
                    continue  # the stored state already includes it
                doc = docs.get(name)
                if doc is None:
                    doc = docs[name] = new_document(type_name)
                doc.apply(op, change.origin, change.hlc)
                mark_dirty(dirty, name, position)
            if pace.due():
                docs.fold()  # a replay can touch every page: keep to the budget
                await asyncio.sleep(0)
        docs.fold()
