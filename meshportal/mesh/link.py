"""One replication conversation with a peer, over an authenticated transport session.

Both boxes run this same code; the one that connected is the *initiator* (it speaks
first in the sync protocol).  Messages are msgpack maps on the transport's frames:

* ``{"t": "s", "d": bin}``: bytes of the sync protocol stream (sync/PROTOCOL.md: HELLO,
  version vectors, BATCH, ACK, DONE, MORE), cut into frames of at most ``CHUNK`` bytes;
* ``{"t": "bg", "h": hex, "o": offset}``: send me ``CHUNK`` bytes of blob ``h`` from
  ``offset``; answered by ``{"t": "bc", "h", "o", "n": total size, "d": bin}``, or
  ``{"t": "bn", "h"}`` when the blob is not held (or not ours to give);
* ``{"t": "end"}``: I have finished (my sync session ended and I fetched what I wanted);
  the conversation is over once both sides sent it;
* ``{"t": "ping"}`` answered by ``{"t": "pong"}``: a liveness check.

Order of work on each side: the sync session first (so the files maps of every page are
known), then the attachments those maps name that this box lacks, chunk by chunk with a
few requests in flight.  A batch is acknowledged only after ``ReplicaHost.apply`` made
it durable, so a box killed mid-sync resumes from its version vector: nothing is sent
twice once acknowledged, nothing is lost.

Writes go through a sender task with its own queue: the reader never waits for the
socket to drain, so two boxes streaming batches at each other cannot deadlock.  The
queue stays bounded by the sync window (a few batches) and the blob requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from meshportal.blobs import BlobError, BlobStore, is_blob_hash
from meshportal.identity import node_id_from_public_key
from meshportal.mesh import framing
from meshportal.mesh.transport import Session
from meshportal.pack_catalog import catalog_blobs
from meshportal.replica_host import ReplicaHost
from sync.chain import open_envelope
from sync.change import VersionVector
from sync.codec import Limits
from sync.errors import BadSignature, ChainMismatch, Equivocation, SyncError
from sync.protocol import SyncSession
from sync.replica import Replica

log = logging.getLogger("meshportal.mesh")

CHUNK = 256 * 1024  # sync bytes and blob bytes per frame (the transport allows 1 MiB)
BLOB_WINDOW = 4  # chunk requests in flight per blob
IDLE_TIMEOUT = 30.0  # a peer silent this long while we wait is gone
FORGED = (BadSignature, ChainMismatch, Equivocation)  # never an honest mistake

FILES_SUFFIX = "/files"


class LinkError(Exception):
    """The conversation broke: the peer misbehaved or went silent."""


def referenced_blobs(replica: Replica) -> dict[str, int]:
    """hash -> size of every attachment named by a page's files map (``wiki/<id>/files``)."""
    out: dict[str, int] = {}
    for name, type_name in replica.documents().items():
        if type_name != "map" or not (name.startswith("wiki/") and name.endswith(FILES_SUFFIX)):
            continue
        for entry in replica.value(name).values():
            if not isinstance(entry, dict):
                continue
            digest, size = entry.get("hash"), entry.get("size")
            if isinstance(digest, str) and is_blob_hash(digest) and type(size) is int and size >= 0:
                out[digest] = size
    return out


def served_blobs(replica: Replica, withheld: Collection[str] = ()) -> dict[str, int]:
    """What a peer may fetch from us: attachments and the shared packs' archives, but
    not the archives of packs this box withdrew (``withheld``)."""
    packs = {h: size for h, size in catalog_blobs(replica).items() if h not in withheld}
    return referenced_blobs(replica) | packs


BlobChooser = Callable[[Replica], dict[str, int]]
Withheld = Callable[[], set[str]]


def lag(mine: VersionVector, theirs: VersionVector) -> tuple[int, int]:
    """(changes we lack, changes they lack) between two version vectors."""
    behind = sum(max(0, seq - mine.get(origin, 0)) for origin, seq in theirs.items())
    ahead = sum(max(0, seq - theirs.get(origin, 0)) for origin, seq in mine.items())
    return behind, ahead


class _Source:
    """The replica as the sync session sees it; remembers the peer's version vector."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.lag: tuple[int, int] | None = None

    def version_vector(self) -> VersionVector:
        return self.replica.version_vector()

    def changes_since(self, vv: VersionVector) -> list[bytes]:
        if self.lag is None:  # the peer's VV; later calls send what a batch linked here
            self.lag = lag(self.replica.version_vector(), vv)
        return self.replica.changes_since(vv)

    def origins(self) -> list[str]:
        # protocol 2 names origins by a short key: the session maps keys back with these
        return self.replica.origins()


@dataclass
class LinkResult:
    peer_id: str
    started: float = field(default_factory=time.time)
    behind: int | None = None  # at the start of the sync session
    ahead: int | None = None
    applied: int = 0  # remote changes applied
    batches: int = 0  # batches received and made durable
    dropped: int = 0  # segments refused because their origin is revoked
    blobs: int = 0  # attachments completed
    blob_bytes: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str = ""
    forged: bool = False  # the peer sent changes whose signature or chain is wrong
    in_sync: bool = False  # the digests matched: nothing was exchanged
    completed: bool = False  # the sync session ran to its end
    seconds: float = 0.0  # how long the conversation lasted

    @property
    def ok(self) -> bool:
        return not self.error


class Conversation:
    def __init__(
        self,
        session: Session,
        host: ReplicaHost,
        blobs: BlobStore | None,
        *,
        initiator: bool,
        is_revoked: Callable[[str], bool],
        extra_wanted: BlobChooser | None = None,
        withheld: Withheld | None = None,
    ) -> None:
        self.session = session
        self.extra_wanted = extra_wanted  # beyond attachments: the packs this box takes
        self.withheld = withheld  # pack archives this box no longer offers
        self.host = host
        self.blobs = blobs
        self.initiator = initiator
        self.is_revoked = is_revoked
        self.result = LinkResult(session.peer_id)
        self._sync: SyncSession | None = None
        self._source: _Source | None = None
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._fetcher: asyncio.Task[None] | None = None
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._we_ended = False
        self._peer_ended = False
        self._served: dict[str, int] | None = None  # blobs we may give, computed once
        self._limits = Limits()

    # --- running -------------------------------------------------------------------------

    async def run(self) -> LinkResult:
        self._sender = asyncio.create_task(self._send_loop())
        try:
            if self.initiator:
                await self._open_sync()
            await self._read_loop()
        except (LinkError, SyncError, BlobError) as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"
        except (framing.FrameError, ConnectionError, ssl.SSLError) as exc:
            if not (self._we_ended and self._peer_ended) and self._sync is not None:
                self.result.error = f"connection lost: {exc}"
        finally:
            await self._finish()
        return self.result

    async def _finish(self) -> None:
        if self._fetcher is not None:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._fetcher
        if self._sync is not None and self._sync.failed is not None:
            self._flush_sync()  # the ERROR frame, so the peer learns why
        if self._sender is not None:
            self._outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sender, 5)
            self._sender.cancel()
        self.result.seconds = time.time() - self.result.started
        self.result.bytes_in = self.session.bytes_in
        self.result.bytes_out = self.session.bytes_out
        done = self._sync is not None and self._sync.finished and not self.result.error
        self.result.completed = done
        if self._source is not None and self._source.lag is not None:
            behind, ahead = self._source.lag
            # what is left: what they had minus what arrived; 0 after a full exchange
            self.result.behind = 0 if done else max(0, behind - self.result.applied)
            self.result.ahead = 0 if done else ahead
        elif done:
            self.result.behind = self.result.ahead = 0
            self.result.in_sync = True

    async def _send_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            await self.session.send(message)

    def _send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    async def _open_sync(self) -> None:
        replica = await self.host.replica()
        self._source = _Source(replica)
        self._sync = SyncSession(self._source, replica.node_id, initiator=self.initiator)
        self._flush_sync()

    def _flush_sync(self) -> None:
        assert self._sync is not None
        data = self._sync.data_to_send()
        for start in range(0, len(data), CHUNK):
            self._send({"t": "s", "d": data[start : start + CHUNK]})

    async def _read_loop(self) -> None:
        while not (self._we_ended and self._peer_ended):
            try:
                message = await asyncio.wait_for(self.session.receive(), IDLE_TIMEOUT)
            except TimeoutError:
                raise LinkError(f"peer silent for {IDLE_TIMEOUT:.0f} s") from None
            await self._dispatch(message)
            if self._sync is not None and self._sync.failed is not None:
                raise self._sync.failed
            if self._sync is not None and self._sync.finished and self._fetcher is None:
                self._fetcher = asyncio.create_task(self._fetch_blobs())

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "s":
            await self._on_sync_bytes(message.get("d"))
        elif kind == "bg":
            self._serve_blob(message)
        elif kind in ("bc", "bn"):
            self._replies.put_nowait(message)
        elif kind == "end":
            self._peer_ended = True
        elif kind == "ping":
            self._send({"t": "pong"})
        else:
            raise LinkError(f"unknown message {kind!r}")

    # --- sync ----------------------------------------------------------------------------

    async def _on_sync_bytes(self, data: Any) -> None:
        if not isinstance(data, bytes):
            raise LinkError("sync bytes must be bin")
        if self._sync is None:
            await self._open_sync()
        sync = self._sync
        assert sync is not None
        batches = sync.receive_data(data)  # a broken peer raises (ERROR frame queued)
        for batch in batches:
            segments = self._admissible(batch.segments)
            if segments:
                try:
                    outcome = await self.host.apply(segments)
                except SyncError as exc:
                    self.result.forged = isinstance(exc, FORGED)
                    sync.fail(exc)
                    raise
                self.result.applied += len(outcome.applied)
            self.result.batches += 1
            sync.acknowledge(batch.number)  # only now: the batch is durable
        self._flush_sync()

    def _admissible(self, raws: list[bytes]) -> list[bytes]:
        """Drop segments that would add changes by a revoked node (its past ones stay).

        Revocations name mesh node ids; a segment names its author by the sync id of the
        same Ed25519 key, and carries the key, which ingest checks against that id."""
        replica_vv = self._source.replica.vv if self._source else {}
        kept = []
        for raw in raws:
            envelope = open_envelope(raw, self._limits)  # MalformedInput on garbage
            last = envelope.first_seq + envelope.count - 1
            author = node_id_from_public_key(envelope.public_key)
            if self.is_revoked(author) and last > replica_vv.get(envelope.origin, 0):
                self.result.dropped += 1
                continue
            kept.append(raw)
        return kept

    # --- blobs ---------------------------------------------------------------------------

    def _serve_blob(self, message: dict[str, Any]) -> None:
        digest, offset = message.get("h"), message.get("o")
        if not isinstance(digest, str) or type(offset) is not int or offset < 0:
            raise LinkError("a blob request names a hash and an offset")
        if self._served is None:
            # Only what our pages and pack catalog name: a hash alone opens nothing else.
            replica = self._source.replica if self._source else None
            withheld = self.withheld() if self.withheld is not None else set()
            self._served = served_blobs(replica, withheld) if replica is not None else {}
        if self.blobs is None or digest not in self._served or not self.blobs.has(digest):
            self._send({"t": "bn", "h": digest})
            return
        data = self.blobs.read_range(digest, offset, CHUNK)
        self._send({"t": "bc", "h": digest, "o": offset, "n": self.blobs.size(digest), "d": data})

    async def _fetch_blobs(self) -> None:
        try:
            if self.blobs is not None and self._source is not None:
                wanted = referenced_blobs(self._source.replica)
                if self.extra_wanted is not None:
                    wanted |= self.extra_wanted(self._source.replica)
                for digest, size in sorted(wanted.items()):
                    if self.blobs.has(digest):
                        continue
                    if not self.blobs.fits(size - self.blobs.partial_size(digest)):
                        log.info("attachment %s… not fetched: over the disk budget", digest[:12])
                        continue
                    await self._fetch_one(digest, size)
        except BlobError as exc:
            log.info("attachment fetch from %s stopped: %s", self.session.peer_id, exc)
        finally:
            self._we_ended = True
            self._send({"t": "end"})

    async def _fetch_one(self, digest: str, size: int) -> None:
        blobs = self.blobs
        assert blobs is not None
        have = blobs.partial_size(digest)
        offsets = list(range(have, size, CHUNK))
        next_index = in_flight = 0
        while next_index < len(offsets) and in_flight < BLOB_WINDOW:
            self._send({"t": "bg", "h": digest, "o": offsets[next_index]})
            next_index += 1
            in_flight += 1
        while in_flight:
            reply = await asyncio.wait_for(self._replies.get(), IDLE_TIMEOUT)
            in_flight -= 1
            if reply.get("t") == "bn" or reply.get("h") != digest:
                # The peer lacks it: drain the answers still coming, keep what we have.
                for _pending in range(in_flight):
                    await asyncio.wait_for(self._replies.get(), IDLE_TIMEOUT)
                return
            data, total = reply.get("d"), reply.get("n")
            if not isinstance(data, bytes) or not data or total != size or reply.get("o") != have:
                raise BlobError(f"peer sent a wrong chunk of {digest[:12]}…")
            have = blobs.append_partial(digest, have, data, size)
            self.result.blob_bytes += len(data)
            if next_index < len(offsets):
                self._send({"t": "bg", "h": digest, "o": offsets[next_index]})
                next_index += 1
                in_flight += 1
        if have == size:
            await asyncio.to_thread(blobs.finish_partial, digest)
            self.result.blobs += 1
