"""The box's one sync replica: every wiki page, revision note and moderation action.

The replica is loaded on first use, not at start: reading every stored state and segment
(documents themselves decode on first use, sync/document_map.py) costs memory and time
that an idle box (or one whose visitors only read lessons) need not pay, and
`cryptography` (for signing) loads with it.  Every write goes through `editing()` or
`apply()`, which hold the database's single writer, so a local save and a batch from a
peer never interleave, and each ends with one durable commit of the replica's journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from meshportal.identity import Identity
from meshportal.store import Database

if TYPE_CHECKING:
    # The engine (and `cryptography` with it) loads with the replica, not at start.
    from sync.change import Change
    from sync.ingest import IngestResult
    from sync.replica import Replica

__all__ = ["CommitListener", "ReplicaHost"]

CommitListener = Callable[["Replica", list["Change"]], Awaitable[None]]
"""Called after a durable commit with the changes it made visible (local or remote)."""

# A decoded wiki page takes about 430 bytes per unit of its size_hint() (measured on the
# 10,000-page bench wiki: 477 MiB for 1.17 million units); its bytes, about a tenth.
BYTES_PER_DOCUMENT_UNIT = 430
DOCUMENT_SHARE = 8  # decoded documents may take this fraction of the board's memory
MIN_DOCUMENT_BYTES = 16 << 20


def board_document_budget(ram_bytes: int | None = None) -> int:
    """The replica's decoded-document budget with `ram_bytes` of memory (by default what
    this process may use: the board's, or its unit's cap, MemoryHigh=128M in
    systemd/meshportal.service): an eighth of it, at least 16 MiB.  A 512 MB board
    keeps about 1,300 large pages decoded and folds the least recently used back into
    bytes, where keeping a synced 10,000-page wiki decoded would take about 480 MiB."""
    if ram_bytes is None:
        from meshportal.sysinfo import memory_bytes  # with the replica, not at start

        ram_bytes = memory_bytes()
    return max(ram_bytes // DOCUMENT_SHARE, MIN_DOCUMENT_BYTES) // BYTES_PER_DOCUMENT_UNIT


class ReplicaHost:
    def __init__(
        self, db: Database, identity: Identity, *, document_budget: int | None = None
    ) -> None:
        self.db = db
        self.identity = identity
        # decoded documents beyond it fold back into bytes (sync/document_map.py); None:
        # the board's, worked out when the replica loads
        self._document_budget = document_budget
        self._replica: Replica | None = None
        self._load_lock = asyncio.Lock()
        self._listeners: list[CommitListener] = []
        self._uncommitted: list[Change] = []

    @property
    def loaded(self) -> bool:
        return self._replica is not None

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    async def replica(self) -> Replica:
        """The replica, loaded from the store on the first call."""
        if self._replica is None:
            async with self._load_lock:
                if self._replica is None:
                    from sync.identity import Identity as SyncIdentity
                    from sync.store import SyncStore

                    key = self.identity.private_key()
                    async with self.db.exclusive() as conn:
                        budget = self._document_budget
                        replica = await SyncStore(conn).async_load(
                            SyncIdentity(key),
                            document_budget=board_document_budget() if budget is None else budget,
                        )
                    replica.subscribe(lambda changes, _local: self._uncommitted.extend(changes))
                    self._replica = replica
        return self._replica

    async def version_vector(self) -> dict[str, int]:
        """The replica's version vector, read from the store while it is not loaded, so
        announcing it (mDNS) does not cost loading every document."""
        if self._replica is not None:
            return self._replica.version_vector()
        async with self.db.reader.execute(
            "SELECT origin, applied FROM sync_origin WHERE applied > 0"
        ) as cursor:
            return {str(origin): int(applied) async for origin, applied in cursor}

    @contextlib.asynccontextmanager
    async def editing(self) -> AsyncIterator[Replica]:
        """Local edits inside this block become one durable commit when it exits."""
        from sync.store import SyncStore

        replica = await self.replica()
        async with self.db.exclusive() as conn:
            try:
                yield replica
            finally:
                # Even if the block failed half-way, what the replica already holds must
                # reach the disk: the in-memory state and the store never disagree.
                await SyncStore(conn).async_commit(replica)
        await self._announce()

    async def apply(self, raws: list[bytes]) -> IngestResult:
        """A batch from a peer, validated, applied and persisted in one transaction."""
        from sync.store import SyncStore

        replica = await self.replica()
        async with self.db.exclusive() as conn:
            result = await SyncStore(conn).async_apply(replica, raws)
        await self._announce()
        return result

    async def checkpoint(self) -> None:
        """Store every document state that still lags its changes (at a clean stop).

        States are written lazily while the box runs (sync/store.py), so a start after a
        big sync could replay up to tens of thousands of changes before the first wiki
        page or sync conversation; after a clean stop it replays none.
        """
        if self._replica is None:
            return
        from sync.store import SyncStore

        async with self.db.exclusive() as conn:
            await SyncStore(conn).async_commit(self._replica, checkpoint=True)

    async def _announce(self) -> None:
        changes, self._uncommitted = self._uncommitted, []
        if not changes or self._replica is None:
            return
        for listener in list(self._listeners):
            await listener(self._replica, changes)
