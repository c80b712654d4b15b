"""Persistence of a replica in SQLite, through the daemon's single aiosqlite writer.

The store is a thin adapter: the replica keeps a journal of what changed (new segments,
dirty documents, order runs, evidence) and `async_commit` writes all of it in ONE
transaction with executemany, so a remote batch costs a handful of thread hops whatever its
size.  Start-up reads the materialised documents and the segment bytes; it replays nothing.

Durability: the daemon opens the database in WAL mode with synchronous=FULL.  A change is
*acknowledged* once `async_commit` (or `async_apply`) has returned; a crash before that loses
at most unacknowledged local edits, which were never offered to a peer (the replica only
offers local segments up to `offer_limit`, which the store advances after each commit).
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import msgpack

from sync.chain import Segment, open_envelope
from sync.codec import Limits, unpack
from sync.documents import DOC_TYPES
from sync.errors import MalformedInput, SyncError, UnknownDocumentType
from sync.hlc import HybridClock
from sync.identity import Identity
from sync.ingest import IngestResult
from sync.log import OrderRun, OriginLog, segment_rank
from sync.replica import Replica

__all__ = ["SyncStore"]

_TABLES = (
    "sync_origin",
    "sync_segment",
    "sync_document",
    "sync_order",
    "sync_evidence",
    "sync_meta",
)


class SyncStore:
    """Reads and writes one replica's tables.  Borrows the connection; never closes it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # --- loading ---------------------------------------------------------------------------

    async def async_load(self, identity: Identity, **replica_options: Any) -> Replica:
        """The replica as last committed: materialised documents, no replay."""
        replica = Replica(identity, **replica_options)
        limits = replica.limits
        conn = self.conn
        async with conn.execute("SELECT name, type, state FROM sync_document") as cursor:
            async for name, type_name, state in cursor:
                cls = DOC_TYPES.get(type_name)
                if cls is None:
                    raise UnknownDocumentType(f"stored document {name!r} has type {type_name!r}")
                replica.docs[name] = cls.decode_state(state)
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
        async with conn.execute("SELECT key, value FROM sync_meta") as cursor:
            meta = {key: value async for key, value in cursor}
        if "new_deps" in meta:
            deps = unpack(meta["new_deps"], "stored new_deps")
            if not isinstance(deps, dict):
                raise MalformedInput("stored new_deps is not a map")
            replica.new_deps = deps
        if "clock" in meta:
            replica.clock.observe(int(meta["clock"]))
        replica.offer_limit = replica.logs[replica.node_id].sealed_end
        return replica

    # --- writing ---------------------------------------------------------------------------

    async def async_commit(self, replica: Replica) -> None:
        """Seal pending local changes and write everything new in one transaction."""
        replica.seal()
        segments = list(replica.unsaved_segments)
        dirty = list(replica.dirty_docs)
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
                    "INSERT OR REPLACE INTO sync_document (name, type, state) VALUES (?, ?, ?)",
                    [
                        (name, replica.docs[name].type_name, replica.docs[name].encode_state())
                        for name in dirty
                        if name in replica.docs
                    ],
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
                ],
            )
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        # the journal is cleared only once the data is durable
        del replica.unsaved_segments[: len(segments)]
        replica.dirty_docs.difference_update(dirty)
        replica.saved_order = len(replica.order)
        del replica.evidence[: len(evidence)]
        replica.offer_limit = replica.logs[replica.node_id].sealed_end

    async def async_apply(self, replica: Replica, raws: list[bytes]) -> IngestResult:
        """Apply a remote batch and persist it; on a SyncError the store is unchanged
        (except recorded equivocation evidence) and the error propagates."""
        try:
            result = replica.apply_segments(raws)
        except SyncError:
            if replica.evidence:
                await self.async_commit(replica)
            raise
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
