"""The mesh inside the daemon: peer table, sync port, discovery, pairing, admin commands.

``Mesh`` borrows the daemon's database and replica and owns the sync server,
the one AsyncZeroconf (through ``Discovery``) and the replicator (``replication``:
when to sync with whom; ``link``: one conversation).  The app's lifecycle starts
and stops it.  Without a replica (tests of the transport alone) an authenticated
session answers ``ping`` only.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from meshportal.blobs import BlobStore
from meshportal.identity import Identity
from meshportal.mesh import advert, certs, framing, interfaces, pairing, transport
from meshportal.mesh.peers import PeerError, PeerTable, check_node_id, parse_host_port
from meshportal.mesh.replication import Replicator
from meshportal.replica_host import ReplicaHost
from meshportal.settings import Settings
from meshportal.store import Database

if TYPE_CHECKING:
    from meshportal.mesh.discovery import Discovery
    from meshportal.mesh.link import BlobChooser, Withheld

log = logging.getLogger("meshportal.mesh")
VectorSource = Callable[[], Mapping[str, int]]
Command = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
EXPECTED = (PeerError, pairing.PairingError, transport.TransportError)


def _plain_errors(handler: Command) -> Command:
    """Expected failures become {"error": "..."}: the CLI prints them as one line."""

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await handler(request)
        except EXPECTED as exc:
            return {"error": str(exc)}

    return run


class Mesh:
    def __init__(
        self, settings: Settings, identity: Identity, db: Database,
        vector: VectorSource = dict, host: ReplicaHost | None = None,
        blobs: BlobStore | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.host = host
        self.blobs = blobs
        self.replicator: Replicator | None = None
        self.identity = identity
        self.peers = PeerTable(db)
        self.vector = vector
        self.endpoint: transport.Endpoint | None = None
        self.server: transport.Server | None = None
        self.sync_port = 0
        self.discovery: Discovery | None = None
        self.instance = advert.instance_name(settings["box_name"], identity.node_id)
        self.problems: list[str] = []
        self._trusted: set[str] = set()
        self._revoked: set[str] = set()
        self._blocked: dict[str, str] = {}  # node id -> why (forged changes), until re-trusted
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._adverts: dict[str, advert.Advert] = {}  # latest TXT per node, for pairing
        self._sessions: dict[str, set[transport.Session]] = {}  # open, by peer node id
        # set before async_start by whoever shares content packs (pack_share)
        self.extra_wanted: BlobChooser | None = None
        self.on_fetched: Callable[[], None] | None = None
        self.withheld: Withheld | None = None
        # told of every trust change by the admin; answers the packs it withdrew
        self.on_trust_changed: Callable[[str, bool], Awaitable[list[str]]] | None = None

    # -- lifecycle -------------------------------------------------------

    async def async_start(self) -> None:
        await self.peers.all_offline()
        await self.reload_trust()
        stored = await self.peers.get_self("instance")
        if stored and stored.startswith(self.instance):
            self.instance = stored  # a name won after a clash stays ours across restarts
        files = await certs.async_ensure_files_in_child(self.settings.data_dir, self.identity)
        self.endpoint = transport.Endpoint(self.identity, *files)
        self.server = transport.Server(
            self.endpoint, self.policy, self._on_session, self._on_paired
        )
        await self._async_listen()
        if self.host is not None and self.sync_port:
            self.replicator = Replicator(
                endpoint=self.endpoint, host=self.host, blobs=self.blobs, peers=self.peers,
                policy=self.policy, is_revoked=self.is_revoked, on_forged=self._on_forged,
                announce=self.vector_changed, interval=self.settings["sync_interval"],
                extra_wanted=self.extra_wanted, on_fetched=self.on_fetched,
                withheld=self.withheld,
            )  # fmt: skip
            await self.replicator.async_start()  # reads the digest the advert needs
        await self._async_start_discovery()
        for host, port in await self.peers.manual():
            self._spawn(self._async_probe_quietly(host, port))

    async def async_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.replicator:
            await self.replicator.async_stop()
        if self.discovery:
            await self.discovery.async_stop()
        if self._listener:
            self._listener.close()
            await self._listener.wait_closed()

    async def _async_listen(self) -> None:
        assert self.server is not None
        host, port = self.settings["host"], self.settings["sync_port"]
        try:
            self._listener = await self.server.async_start(host, port)
        except OSError as exc:
            # The web side (portal, wiki) still serves: a clash on the sync
            # port must not take the whole box down; status says it plainly.
            why = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            self.problems.append(f"sync port {host}:{port}: {why}")
            log.error("box-to-box sync disabled: port %s on %s %s", port, host, why)
            return
        self.sync_port = self._listener.sockets[0].getsockname()[1]
        if self.endpoint is not None:
            self.endpoint.listen_port = self.sync_port
        log.info("box-to-box sync on %s:%d", host, self.sync_port)

    async def _async_start_discovery(self) -> None:
        if not self.settings["discovery"]:
            return
        if interfaces.is_loopback(self.settings["host"]):
            self.problems.append("discovery off: the box listens on loopback only")
            return
        if not self.sync_port:
            return
        from meshportal.mesh.discovery import Discovery  # zeroconf: only when used

        self.discovery = Discovery(
            host=self.settings["host"],
            instance=self.instance,
            advert=self.own_advert,
            on_seen=self._on_seen,
            on_gone=self.peers.gone,
            ttl=self.settings["mdns_ttl"],
            check_every=self.settings["interface_check"],
            on_renamed=self._on_renamed,
        )
        await self.discovery.async_start()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what others see and may do --------------------------------------

    def own_advert(self) -> advert.Advert:
        offer = self.server.desk.offer if self.server else None
        return advert.Advert(
            node_id=self.identity.node_id,
            name=self.settings["box_name"],
            protocol=advert.PROTOCOL_VERSION,
            sync_port=self.sync_port,
            digest=(
                self.replicator.digest if self.replicator else advert.vector_digest(self.vector())
            ),
            pairing=bool(offer and offer.open),
        )

    async def vector_changed(self) -> None:
        """The sync layer calls this after a local change: peers see the new digest."""
        if self.discovery:
            await self.discovery.async_check()

    def policy(self, node_id: str) -> str | None:
        if node_id in self._revoked or node_id in self._blocked:
            return None
        if node_id in self._trusted:
            return "trusted"
        return "public" if self.settings["public_mode"] else None

    def is_trusted(self, node_id: str) -> bool:
        """Trusted by the admin and neither revoked nor blocked: public mode never counts
        here (installing a content pack is the box vouching for it)."""
        return node_id in self._trusted and self.policy(node_id) == "trusted"

    def is_revoked(self, node_id: str) -> bool:
        """For the sync layer: changes authored by a revoked node are rejected."""
        return node_id in self._revoked

    async def reload_trust(self) -> None:
        self._trusted = await self.peers.trusted_ids()
        self._revoked = await self.peers.revoked_ids()
        self._blocked = await self.peers.blocked()

    async def _on_seen(self, seen: advert.Advert, addresses: list[str]) -> None:
        self._adverts[seen.node_id] = seen
        await self.peers.seen(seen.node_id, seen.name, addresses, seen.sync_port, seen.digest)
        if self.replicator:
            self.replicator.seen(seen.node_id, seen.digest)

    async def _on_renamed(self, name: str) -> None:
        await self.peers.set_self("instance", name)

    async def _on_paired(self, node_id: str) -> None:
        await self.peers.set_trust(node_id, True)  # lifts a block too
        await self.reload_trust()
        await self._trust_changed(node_id, True)

    async def _trust_changed(self, node_id: str, trusted: bool) -> list[str]:
        if self.on_trust_changed is None:
            return []
        return await self.on_trust_changed(node_id, trusted)

    def sync_now(self, node_id: str) -> None:
        """Start a conversation with this box now, if it may be contacted."""
        if self.replicator is not None:
            self.replicator.kick(node_id)

    async def _on_forged(self, node_id: str) -> None:
        """A peer sent changes whose signature or chain is wrong: no honest box does."""
        self._blocked[node_id] = "sent forged changes"
        await self.peers.block(node_id, self._blocked[node_id])
        log.warning("blocked %s: it sent changes that fail signature checks", node_id)
        await self.peers.record_error(
            node_id, "blocked: sent forged changes (trust it again to lift)"
        )
        for session in list(self._sessions.pop(node_id, ())):
            await session.close()

    async def _on_session(self, session: transport.Session) -> None:
        if session.remote_host and session.callback_port:
            await self.peers.learn_address(
                session.peer_id, session.remote_host, session.callback_port
            )
        if self.replicator is not None:
            self._sessions.setdefault(session.peer_id, set()).add(session)
            try:
                await self.replicator.serve(session)
            finally:
                self._sessions.get(session.peer_id, set()).discard(session)
            return
        error = ""
        self._sessions.setdefault(session.peer_id, set()).add(session)
        try:
            while True:
                message = await session.receive()
                if message.get("t") != "ping":
                    error = f"unknown message {message.get('t')!r}"
                    break
                await session.send({"t": "pong"})
        except framing.FrameError as exc:
            if "ended inside" not in str(exc):
                error = str(exc)
        finally:
            self._sessions.get(session.peer_id, set()).discard(session)
            await self.peers.record_session(
                session.peer_id, session.bytes_in, session.bytes_out, error
            )

    async def _async_probe_quietly(self, host: str, port: int) -> None:
        try:
            await self.async_probe(host, port)
        except transport.TransportError as exc:
            log.info("hand-added peer %s:%d not reachable: %s", host, port, exc)

    async def async_probe(self, host: str, port: int) -> str:
        """Connect to a hand-added peer to learn its node id (sends it nothing)."""
        assert self.endpoint is not None
        node_id = await transport.async_probe(self.endpoint, host, port)
        if node_id != self.identity.node_id:
            await self.peers.seen(node_id, "", [host], port)
        return node_id

    # -- admin commands --------------------------------------------------

    def commands(self) -> dict[str, Command]:
        handlers: dict[str, Command] = {
            "peer.list": self._cmd_list,
            "peer.trust": self._cmd_trust,
            "peer.untrust": self._cmd_untrust,
            "peer.add": self._cmd_add,
            "peer.pair.show": self._cmd_pair_show,
            "peer.pair.state": self._cmd_pair_state,
            "peer.pair.join": self._cmd_pair_join,
        }
        return {name: _plain_errors(handler) for name, handler in handlers.items()}

    async def status_section(self) -> dict[str, Any]:
        peers = [p.as_dict() for p in await self.peers.list()]
        live = self.replicator.live_status() if self.replicator else {}
        for peer in peers:
            peer.update(live.get(peer["node_id"], {}))
            if peer["node_id"] in self._blocked:
                peer["blocked"] = self._blocked[peer["node_id"]]
        section: dict[str, Any] = {
            "instance": self.discovery.name if self.discovery else self.instance,
            "sync_port": self.sync_port,
            "public_mode": self.settings["public_mode"],
            "discovery": "on" if self.discovery else "off",
            "problems": list(self.problems),
        }
        if self.replicator:
            section["digest"] = self.replicator.digest
            section["sessions"] = self.replicator.sessions
        if self.blobs:
            section["files_bytes"] = self.blobs.used_bytes()
        section["peers"] = peers
        return section

    async def _cmd_list(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.status_section()

    async def _cmd_trust(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._set_trust(request, True)

    async def _cmd_untrust(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._set_trust(request, False)

    async def _set_trust(self, request: dict[str, Any], trusted: bool) -> dict[str, Any]:
        node_id = check_node_id(str(request.get("node_id", "")))
        if node_id == self.identity.node_id:
            raise PeerError("this is this box's own node id")
        await self.peers.set_trust(node_id, trusted)  # trusting lifts a block too
        await self.reload_trust()
        if trusted:
            self.sync_now(node_id)
        if self.policy(node_id) is None:
            # Revoking stops syncing now, not at the next connection.
            for session in list(self._sessions.pop(node_id, ())):
                await session.close()
        withdrawn = await self._trust_changed(node_id, trusted)
        return {"node_id": node_id, "trusted": trusted, "packs_withdrawn": withdrawn}

    async def _cmd_add(self, request: dict[str, Any]) -> dict[str, Any]:
        host, port = parse_host_port(str(request.get("address", "")), self.settings["sync_port"])
        await self.peers.add_manual(host, port)
        try:
            node_id = await self.async_probe(host, port)
        except transport.TransportError as exc:
            return {"host": host, "port": port, "node_id": None, "problem": str(exc)}
        return {"host": host, "port": port, "node_id": node_id}

    async def _cmd_pair_show(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.server is None or not self.sync_port:
            raise PeerError("box-to-box sync is not running: " + "; ".join(self.problems))
        lifetime = self.settings["pairing_timeout"]
        offer = await asyncio.to_thread(pairing.Offer.create, lifetime)
        self.server.desk.offer = offer
        if self.discovery:
            await self.discovery.async_check()  # announce pair=1 so the other box finds us
        return {"code": offer.code, "expires_in": lifetime, "node_id": self.identity.node_id}

    async def _cmd_pair_state(self, request: dict[str, Any]) -> dict[str, Any]:
        offer = self.server.desk.offer if self.server else None
        if offer is None:
            return {"state": "none"}
        state = offer.state()
        if state != "waiting" and self.discovery:
            await self.discovery.async_check()
        return {"state": state, "peer": offer.paired_with}

    async def _cmd_pair_join(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.endpoint is not None
        code = pairing.normalise_code(str(request.get("code", "")))
        targets: list[tuple[str, int]] = []
        if request.get("address"):
            targets.append(parse_host_port(str(request["address"]), self.settings["sync_port"]))
        else:
            # Only boxes announcing an open code: trying a code elsewhere is useless.
            for peer in await self.peers.list():
                seen = self._adverts.get(peer.node_id)
                if peer.online and seen and seen.pairing:
                    targets.extend((a, seen.sync_port) for a in peer.addresses[:1])
        errors = []
        for host, port in targets:
            try:
                node_id, _ = await transport.async_connect(
                    self.endpoint, host, port, None, code=code
                )
            except (transport.TransportError, pairing.PairingError) as exc:
                errors.append(str(exc))
                continue
            await self._on_paired(node_id)
            await self.peers.seen(node_id, "", [host], port)
            if self.replicator:
                self.replicator.kick(node_id)
            return {"peer": node_id, "address": f"{host}:{port}"}
        if not targets:
            raise pairing.PairingError(
                "no box showing a code was found nearby: give its address (--host)"
            )
        raise pairing.PairingError("no box accepted the code: " + "; ".join(errors[:3]))


__all__ = ["Mesh", "PeerError"]
