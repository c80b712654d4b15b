"""Box-to-box transport: TLS 1.3 on the sync port, with both ends proven by their Ed25519 keys.

Python's ``ssl`` cannot run our own check on a peer certificate during the
handshake: it only verifies chains against trust anchors, and we trust node
ids (hashes of keys), not certificates we hold.  So the work is split:

* TLS gives encryption and proves the *server*: its self-signed certificate
  carries its identity key; the client reads it (``getpeercert(binary_form=
  True)``), hashes it into a node id and hangs up, having sent nothing, if it
  is not the node it meant to reach.
* The *client* proves itself inside the encrypted channel: it signs the
  server's nonce together with the server's public key and its own.  The
  server's key in the signed text binds the proof to this very TLS session:
  a relay in the middle shows the client its own certificate, so the
  client's signature would name the relay's key and the real server refuses it.
* The server then asks its policy what this node id may do (trusted, public,
  or nothing).  Refused peers get no byte of data: the connection is closed.

After the handshake both sides exchange length-prefixed msgpack frames
(``framing``); ``sync/protocol.py`` messages ride on them.

Wire format (version 1), for a second implementation:

1. TCP to the sync port, TLS 1.3 only.  The server's certificate is
   self-signed with its Ed25519 identity key; the client sends none.  The
   client computes node_id(server key) (see ``identity``) and closes if it
   is not the expected one.
2. Every message is a frame: 4-byte big-endian length, then a msgpack map
   (bytes as msgpack bin).  During the handshake a frame is at most 4096
   bytes; after it, at most ``MAX_FRAME`` (1 MiB).
3. server -> ``{"t": "hello", "v": 1, "nonce": 32 random bytes}``
4. client -> ``{"t": "auth", "v": 1, "mode": "sync" | "pair", "pub": client key
   (32 bytes), "nonce": 32 random bytes, "sig": Ed25519 signature of
   b"meshportal-auth-v1|" + mode + b"|" + server key + server nonce + client
   key + client nonce}``; in mode ``pair`` also ``"mac"`` (see ``pairing``:
   HMAC-SHA256 keyed by scrypt(code), role b"B").
5. sync: server -> ``{"t": "welcome", "scope": "trusted" | "public"}``, or the
   connection is closed with nothing sent.  pair: server -> ``{"t": "paired",
   "mac": ...role b"A"}`` then closes, or closes with nothing sent (wrong or
   no code: the code is then cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshportal.identity import Identity, node_id_from_public_key
from meshportal.mesh import certs, framing, pairing

log = logging.getLogger("meshportal.mesh")

HANDSHAKE_FRAME = 4096  # an unauthenticated peer cannot make us buffer more
HANDSHAKE_TIMEOUT = 10.0
MAX_PENDING = 16  # handshakes in progress; more are dropped, so idle sockets cannot pile up
_AUTH_LABEL = b"meshportal-auth-v1|"

Policy = Callable[[str], str | None]  # node id -> scope ("trusted", "public") or None


class TransportError(Exception):
    """The connection failed or the peer broke the protocol."""


class WrongPeer(TransportError):
    """The box that answered is not the node we meant to reach."""


class Refused(TransportError):
    """The other box closed the connection: it does not accept us (or the code)."""


@dataclass(eq=False)  # compared and hashed by identity: held in sets while open
class Session:
    """An authenticated, encrypted conversation with one peer."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_id: str
    scope: str
    max_frame: int = framing.MAX_FRAME
    bytes_in: int = 0
    bytes_out: int = 0
    # for sessions we accepted: the peer's address and the port it says it listens on
    remote_host: str | None = None
    callback_port: int | None = None

    async def send(self, message: dict[str, Any]) -> None:
        frame = framing.encode_frame(framing.pack(message), self.max_frame)
        self.writer.write(frame)
        self.bytes_out += len(frame)
        await self.writer.drain()

    async def receive(self) -> dict[str, Any]:
        payload = await framing.read_frame(self.reader, self.max_frame)
        self.bytes_in += len(payload) + 4
        return framing.unpack(payload)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


class Endpoint:
    """This box's side of the transport: its certificate and, when needed, its key."""

    def __init__(self, identity: Identity, cert_path: Path, key_path: Path) -> None:
        self.identity = identity
        self.cert_path, self.key_path = cert_path, key_path
        # where our own sync server listens, told to the boxes we connect to so that a
        # link added by hand on one side only still carries pushes both ways
        self.listen_port: int | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, identity: Identity) -> Endpoint:
        return cls(identity, *certs.ensure_files(data_dir, identity))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(self.cert_path, self.key_path)
        ctx.verify_mode = ssl.CERT_NONE  # clients prove themselves by signature, see above
        ctx.num_tickets = 0  # sessions are never resumed: tickets would be ~500 B wasted
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # we check the key ourselves, right after
        return ctx

    def sign(self, data: bytes) -> bytes:
        return self.identity.private_key().sign(data)


def _auth_text(
    mode: str, server_pub: bytes, server_nonce: bytes, client_pub: bytes, client_nonce: bytes
) -> bytes:
    return (
        _AUTH_LABEL + mode.encode() + b"|" + server_pub + server_nonce + client_pub + client_nonce
    )


def _verify(public: bytes, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _bytes(message: dict[str, Any], key: str, size: int | None = None) -> bytes:
    value = message.get(key)
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise framing.FrameError(f"field {key!r} missing or malformed")
    return value


async def _read(reader: asyncio.StreamReader) -> dict[str, Any]:
    payload = await asyncio.wait_for(framing.read_frame(reader, HANDSHAKE_FRAME), HANDSHAKE_TIMEOUT)
    return framing.unpack(payload)


def _write(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(framing.encode_frame(framing.pack(message), HANDSHAKE_FRAME))


class Desk:
    """The pairing offer of this box, if one is open (one at a time)."""

    def __init__(self) -> None:
        self.offer: pairing.Offer | None = None


SessionHandler = Callable[[Session], Awaitable[None]]
PairedHandler = Callable[[str], Awaitable[None]]


@dataclass
class Server:
    endpoint: Endpoint
    policy: Policy
    on_session: SessionHandler
    on_paired: PairedHandler
    desk: Desk = field(default_factory=Desk)
    max_frame: int = framing.MAX_FRAME
    refused: int = 0
    pending: int = 0

    async def async_start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(
            self._accept, host, port, ssl=self.endpoint.server_context(),
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
        )  # fmt: skip

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        try:
            if self.pending >= MAX_PENDING:
                raise ConnectionError("too many handshakes in progress")
            self.pending += 1
            try:
                session = await self._handshake(reader, writer)
            finally:
                self.pending -= 1
            if session is not None:
                await self.on_session(session)
        except (framing.FrameError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            log.debug("sync connection dropped: %s", exc)
        finally:
            if session is None:
                self.refused += 1
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Session | None:
        nonce = secrets.token_bytes(32)
        _write(writer, {"t": "hello", "v": 1, "nonce": nonce})
        await writer.drain()
        auth = await _read(reader)
        mode = auth.get("mode")
        if auth.get("t") != "auth" or mode not in ("sync", "pair"):
            return None
        client_pub = _bytes(auth, "pub", 32)
        client_nonce = _bytes(auth, "nonce", 32)
        own = self.endpoint.identity.public_bytes
        text = _auth_text(mode, own, nonce, client_pub, client_nonce)
        if not _verify(client_pub, _bytes(auth, "sig"), text):
            return None
        peer_id = node_id_from_public_key(client_pub)
        if mode == "pair":
            await self._pair(writer, auth, peer_id, own, client_pub, nonce + client_nonce)
            return None
        scope = self.policy(peer_id)
        if scope is None:
            log.info("refused sync from %s (not trusted)", peer_id)
            return None
        _write(writer, {"t": "welcome", "scope": scope})
        await writer.drain()
        session = Session(reader, writer, peer_id, scope, self.max_frame)
        port = auth.get("port")
        if type(port) is int and 0 < port < 65536:
            peer = writer.get_extra_info("peername")
            session.remote_host = str(peer[0]) if peer else None
            session.callback_port = port
        return session

    async def _pair(
        self, writer: asyncio.StreamWriter, auth: dict[str, Any], peer_id: str,
        own: bytes, client_pub: bytes, nonces: bytes,
    ) -> None:  # fmt: skip
        offer = self.desk.offer
        if offer is None or not offer.open:
            return
        expected = pairing.proof(offer.key, b"B", own, client_pub, nonces)
        if not hmac.compare_digest(expected, _bytes(auth, "mac", 32)):
            offer.failed = True  # burnt: one guess per code, then a new code is needed
            log.warning("pairing attempt with a wrong code from %s: code cancelled", peer_id)
            return
        offer.paired_with = peer_id
        await self.on_paired(peer_id)
        _write(
            writer, {"t": "paired", "mac": pairing.proof(offer.key, b"A", own, client_pub, nonces)}
        )
        await writer.drain()


async def _open(
    endpoint: Endpoint, host: str, port: int, wait: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=endpoint.client_context(), server_hostname=None
            ),
            wait,
        )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise TransportError(f"cannot reach {host}:{port}: {exc}") from None
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    try:
        if not der:
            raise TransportError(f"{host}:{port} presented no certificate")
        return reader, writer, certs.public_key_of(der)
    except (TransportError, certs.CertificateError) as exc:
        writer.close()
        raise TransportError(f"{host}:{port}: {exc}") from None


async def async_probe(
    endpoint: Endpoint, host: str, port: int, wait: float = HANDSHAKE_TIMEOUT
) -> str:
    """The node id of whoever answers at host:port; nothing is sent to it."""
    _reader, writer, server_pub = await _open(endpoint, host, port, wait)
    writer.close()
    return node_id_from_public_key(server_pub)


async def async_connect(
    endpoint: Endpoint, host: str, port: int, expected: str | None,
    code: str | None = None, wait: float = HANDSHAKE_TIMEOUT,
) -> tuple[str, Session | None]:  # fmt: skip
    """Connect and authenticate.  With ``code``: pair instead, returning (peer id, None)."""
    reader, writer, server_pub = await _open(endpoint, host, port, wait)
    server_id = node_id_from_public_key(server_pub)
    try:
        if expected is not None and server_id != expected:
            raise WrongPeer(f"{host}:{port} is {server_id}, not {expected}")
        hello = await _read(reader)
        server_nonce = _bytes(hello, "nonce", 32)
        mode = "sync" if code is None else "pair"
        own = endpoint.identity.public_bytes
        nonce = secrets.token_bytes(32)
        auth: dict[str, Any] = {"t": "auth", "v": 1, "mode": mode, "pub": own, "nonce": nonce}
        auth["sig"] = endpoint.sign(_auth_text(mode, server_pub, server_nonce, own, nonce))
        if endpoint.listen_port:
            auth["port"] = endpoint.listen_port  # inside TLS, from the signed-in peer
        key = b""
        if code is not None:
            key = await asyncio.to_thread(pairing.code_key, code)
            auth["mac"] = pairing.proof(key, b"B", server_pub, own, server_nonce + nonce)
        _write(writer, auth)
        await writer.drain()
        try:
            answer = await _read(reader)
        except framing.FrameError:
            raise Refused(f"{server_id} refused us") from None
        if code is not None:
            expected_mac = pairing.proof(key, b"A", server_pub, own, server_nonce + nonce)
            if answer.get("t") != "paired" or not hmac.compare_digest(
                expected_mac, _bytes(answer, "mac", 32)
            ):
                raise pairing.PairingError(f"{server_id} did not prove it knows the code")
            writer.close()
            return server_id, None
        if answer.get("t") != "welcome":
            raise Refused(f"{server_id} refused us")
        return server_id, Session(reader, writer, server_id, str(answer.get("scope")))
    except BaseException:
        writer.close()
        raise
