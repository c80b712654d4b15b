"""When to sync, and with whom: discovery, local changes, a timer, and back-off.

* **On discovery**: a peer whose announced version-vector digest differs from ours.  When
  two boxes see each other at once, the one with the smaller node id connects first; the
  other waits a moment and finds the digests equal.
* **On every change** (local edit or batch from a peer), debounced: every peer whose last
  known digest differs from ours.  This is also what relays: B applies A's changes, and
  the commit pushes them on to C, still signed by A.
* **Periodically**, with jitter: every allowed peer not known to be in sync, including
  peers that went quiet (a healed partition is noticed this way), with exponential
  back-off after failures, capped at the period.

Only peers the mesh's policy admits (trusted, or any non-revoked peer in public mode) are
contacted; a peer that sends forged changes is blocked (in the peer table, so across restarts)
until the admin trusts it again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshportal.blobs import BlobStore
from meshportal.mesh import advert, transport
from meshportal.mesh.peers import Peer, PeerTable
from meshportal.replica_host import ReplicaHost

if TYPE_CHECKING:
    # The conversation (and the sync engine with cryptography) load with the first sync:
    # an idle box that never meets a peer keeps that memory.
    from meshportal.mesh.link import BlobChooser, Conversation, LinkResult, Withheld
    from sync.change import Change
    from sync.replica import Replica

log = logging.getLogger("meshportal.mesh")

CONNECT_TIMEOUT = 3.0  # a LAN peer answers in milliseconds; a gone one must not stall us
DEBOUNCE = 0.2  # a burst of saves becomes one round
DISCOVERY_DEFER = 1.0  # the larger node id lets the smaller one connect first
MIN_BACKOFF = 1.0


@dataclass
class PeerSync:
    """In-memory replication state of one peer (the table keeps the durable part)."""

    node_id: str
    busy: bool = False
    again: bool = False  # a change arrived while busy: go once more afterwards
    failures: int = 0
    next_try: float = 0.0  # monotonic
    digest: str = ""  # the peer's digest as last known (its advert, or ours after a sync)
    live: Conversation | None = None
    last: LinkResult | None = None


class Replicator:
    def __init__(
        self,
        *,
        endpoint: transport.Endpoint,
        host: ReplicaHost,
        blobs: BlobStore | None,
        peers: PeerTable,
        policy: Callable[[str], str | None],
        is_revoked: Callable[[str], bool],
        on_forged: Callable[[str], Awaitable[None]],
        announce: Callable[[], Awaitable[None]],
        interval: float,
        extra_wanted: BlobChooser | None = None,
        on_fetched: Callable[[], None] | None = None,
        withheld: Withheld | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.extra_wanted = extra_wanted
        self.withheld = withheld
        self.on_fetched = on_fetched  # a session completed some files
        self.host = host
        self.blobs = blobs
        self.peers = peers
        self.policy = policy
        self.is_revoked = is_revoked
        self.on_forged = on_forged
        self.announce = announce
        self.interval = interval
        self.node_id = endpoint.identity.node_id
        self.state: dict[str, PeerSync] = {}
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._digest = advert.vector_digest({})
        self.sessions = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def async_start(self) -> None:
        # from the store: the replica itself loads on the first sync or page view
        self._digest = advert.vector_digest(await self.host.version_vector())
        self.host.on_commit(self._on_commit)
        self._spawn(self._debounce_loop())
        self._spawn(self._periodic_loop())

    async def async_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def digest(self) -> str:
        """Our version vector's digest, as announced by mDNS."""
        return self._digest

    def peer(self, node_id: str) -> PeerSync:
        state = self.state.get(node_id)
        if state is None:
            state = self.state[node_id] = PeerSync(node_id)
        return state

    # --- triggers ------------------------------------------------------------------------------

    async def _on_commit(self, replica: Replica, changes: list[Change]) -> None:
        self._digest = advert.vector_digest(replica.vv)
        self._changed.set()

    def seen(self, node_id: str, digest: str) -> None:
        """Discovery saw (or re-saw) a peer announcing `digest`."""
        state = self.peer(node_id)
        state.digest = digest
        if digest == self._digest or self.policy(node_id) is None:
            return
        delay = 0.0 if self.node_id < node_id else DISCOVERY_DEFER + random.random()
        self._spawn(self._sync_later(node_id, delay))

    def kick(self, node_id: str) -> None:
        """Sync with this peer now (just trusted or paired)."""
        self.peer(node_id).next_try = 0.0
        self._spawn(self._sync_later(node_id, 0.0))

    async def _sync_later(self, node_id: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
            if self.peer(node_id).digest == self._digest:
                return  # the other side connected first and we are even
        await self.sync_with(node_id)

    async def _debounce_loop(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(DEBOUNCE)
            self._changed.clear()
            try:
                await self.announce()  # peers see our new digest
            except Exception:
                log.exception("could not re-announce the new version digest")
            await self._round(await self.peers.list(), periodic=False)

    async def _periodic_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval * (0.75 + random.random() / 2))
            try:
                await self._round(await self.peers.list(), periodic=True)
            except Exception:
                log.exception("periodic sync round failed")

    async def _round(self, peers: Iterable[Peer], *, periodic: bool) -> None:
        now = time.monotonic()
        jobs = []
        for peer in peers:
            if peer.node_id == self.node_id or self.policy(peer.node_id) is None:
                continue
            if not peer.addresses or not peer.sync_port:
                continue
            state = self.peer(peer.node_id)
            if state.digest == self._digest and (peer.online or not periodic):
                continue  # even, as far as we know (its advert, or our last session)
            if state.busy:
                state.again = True
                continue
            if now < state.next_try:
                continue
            jobs.append(self.sync_with(peer.node_id, peer))
        if jobs:
            await asyncio.gather(*jobs)

    # --- one session ---------------------------------------------------------------------------

    async def sync_with(self, node_id: str, peer: Peer | None = None) -> LinkResult | None:
        """Connect to a peer and run one conversation; None if busy or not allowed."""
        state = self.peer(node_id)
        if state.busy or self.policy(node_id) is None:
            if state.busy:
                state.again = True
            return None
        state.busy = True
        try:
            if peer is None:
                peer = next((p for p in await self.peers.list() if p.node_id == node_id), None)
            if peer is None or not peer.addresses or not peer.sync_port:
                return None
            session, error = await self._connect(peer)
            if session is None:
                from meshportal.mesh.link import LinkResult

                result = LinkResult(node_id, error=error)
            else:
                result = await self._converse(state, session, initiator=True)
            await self._record(state, result)
            return result
        finally:
            state.busy = False
            if state.again:
                state.again = False
                if state.digest != self._digest and state.failures == 0:
                    self._spawn(self._sync_later(node_id, DEBOUNCE))

    async def _connect(self, peer: Peer) -> tuple[transport.Session | None, str]:
        error = "no address"
        for address in peer.addresses:
            try:
                _id, session = await transport.async_connect(
                    self.endpoint, address, int(peer.sync_port or 0), peer.node_id,
                    wait=CONNECT_TIMEOUT,
                )  # fmt: skip
            except transport.TransportError as exc:
                error = str(exc)
                continue
            if session is not None:
                return session, ""
        return None, error

    async def serve(self, session: transport.Session) -> LinkResult:
        """A peer connected to us: the same conversation, as the responder."""
        state = self.peer(session.peer_id)
        was_busy = state.busy
        state.busy = True
        try:
            result = await self._converse(state, session, initiator=False)
        finally:
            state.busy = was_busy
        await self._record(state, result)
        if state.again and not state.busy:
            state.again = False
            if state.digest != self._digest:
                self._spawn(self._sync_later(session.peer_id, DEBOUNCE))
        return result

    async def _converse(
        self, state: PeerSync, session: transport.Session, *, initiator: bool
    ) -> LinkResult:
        from meshportal.mesh.link import Conversation

        conversation = Conversation(
            session, self.host, self.blobs, initiator=initiator, is_revoked=self.is_revoked,
            extra_wanted=self.extra_wanted, withheld=self.withheld,
        )  # fmt: skip
        state.live = conversation
        self.sessions += 1
        try:
            return await conversation.run()
        finally:
            state.live = None
            if initiator:
                await session.close()

    async def _record(self, state: PeerSync, result: LinkResult) -> None:
        state.last = result
        if result.blobs and self.on_fetched is not None:
            self.on_fetched()
        if result.completed:
            state.failures = 0
            state.next_try = 0.0
            state.digest = self._digest  # both sides hold the union now
        elif result.error:
            state.failures += 1
            backoff = min(self.interval, MIN_BACKOFF * 2 ** (state.failures - 1))
            state.next_try = time.monotonic() + backoff * (0.75 + random.random() / 2)
            log.info("sync with %s failed: %s", result.peer_id, result.error)
        await self.peers.record_sync(
            result.peer_id,
            synced=result.completed,
            behind=result.behind,
            ahead=result.ahead,
            bytes_in=result.bytes_in,
            bytes_out=result.bytes_out,
            error=result.error,
        )
        if result.forged:
            await self.on_forged(result.peer_id)

    def live_status(self) -> dict[str, dict[str, Any]]:
        """Per peer: what is happening now and what the last session did."""
        out: dict[str, dict[str, Any]] = {}
        for node_id, state in self.state.items():
            entry: dict[str, Any] = {"failures": state.failures}
            if state.live is not None:
                live = state.live.result
                entry["syncing"] = {"batches": live.batches, "applied": live.applied}
            if state.last is not None:
                entry["last"] = {
                    "applied": state.last.applied,
                    "blobs": state.last.blobs,
                    "dropped": state.last.dropped,
                    "seconds": round(state.last.seconds, 3),
                }
            out[node_id] = entry
        return out
