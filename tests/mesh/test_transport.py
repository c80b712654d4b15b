"""The sync transport over real TLS sockets on loopback: who gets in, who gets nothing."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshportal.identity import Identity, create_or_load
from meshportal.mesh import certs, framing, pairing, transport


def _identity(folder: Path) -> Identity:
    folder.mkdir(parents=True, exist_ok=True)
    return create_or_load(folder)[0]


def _endpoint(folder: Path) -> transport.Endpoint:
    return transport.Endpoint.for_data_dir(folder, _identity(folder))


class Box:
    """A server endpoint answering ``ping`` for the peers its policy admits."""

    def __init__(self, folder: Path) -> None:
        self.endpoint = _endpoint(folder)
        self.trusted: set[str] = set()
        self.public = False
        self.paired: list[str] = []
        self.sessions: list[str] = []
        self.server = transport.Server(self.endpoint, self.policy, self.on_session, self.on_paired)
        self.port = 0

    @property
    def node_id(self) -> str:
        return self.endpoint.identity.node_id

    def policy(self, node_id: str) -> str | None:
        if node_id in self.trusted:
            return "trusted"
        return "public" if self.public else None

    async def on_session(self, session: transport.Session) -> None:
        self.sessions.append(session.peer_id)
        message = await session.receive()
        await session.send({"t": "pong", "echo": message.get("data"), "scope": session.scope})

    async def on_paired(self, node_id: str) -> None:
        self.paired.append(node_id)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    server_box = Box(tmp_path / "a")
    server = await server_box.server.async_start("127.0.0.1", 0)
    server_box.port = server.sockets[0].getsockname()[1]
    yield server_box
    server.close()
    await server.wait_closed()


async def test_a_trusted_peer_gets_an_encrypted_answer(box: Box, tmp_path: Path) -> None:
    client = _endpoint(tmp_path / "b")
    box.trusted.add(client.identity.node_id)
    peer, session = await transport.async_connect(client, "127.0.0.1", box.port, box.node_id)
    assert peer == box.node_id and session is not None
    ssl_object = session.writer.get_extra_info("ssl_object")
    assert ssl_object.version() == "TLSv1.3"
    await session.send({"t": "ping", "data": b"hello"})
    assert await session.receive() == {"t": "pong", "echo": b"hello", "scope": "trusted"}
    assert session.bytes_out > 0 and session.bytes_in > 0
    await session.close()
    assert box.sessions == [client.identity.node_id]


async def test_an_untrusted_identity_gets_nothing(box: Box, tmp_path: Path) -> None:
    client = _endpoint(tmp_path / "stranger")
    with pytest.raises(transport.Refused):
        await transport.async_connect(client, "127.0.0.1", box.port, box.node_id)
    assert box.sessions == [] and box.server.refused == 1


async def test_public_mode_admits_any_identity_with_the_public_scope(
    box: Box, tmp_path: Path
) -> None:
    box.public = True
    client = _endpoint(tmp_path / "visitor-box")
    _, session = await transport.async_connect(client, "127.0.0.1", box.port, box.node_id)
    assert session is not None and session.scope == "public"
    await session.send({"t": "ping", "data": b"x"})
    assert (await session.receive())["scope"] == "public"
    await session.close()


async def test_a_server_with_another_node_id_is_left_before_we_say_anything(
    box: Box, tmp_path: Path
) -> None:
    client = _endpoint(tmp_path / "b")
    box.trusted.add(client.identity.node_id)
    someone_else = _identity(tmp_path / "c").node_id
    with pytest.raises(transport.WrongPeer):
        await transport.async_connect(client, "127.0.0.1", box.port, someone_else)
    await asyncio.sleep(0.05)
    assert box.sessions == []


async def test_a_client_claiming_another_nodes_key_is_refused(box: Box, tmp_path: Path) -> None:
    """A visitor who copied a trusted box's certificate (public) but has not its key."""
    trusted = _endpoint(tmp_path / "trusted")
    box.trusted.add(trusted.identity.node_id)
    impostor = _endpoint(tmp_path / "impostor")
    # The impostor announces the trusted box's public key but can only sign with its own.
    forged = transport.Endpoint(trusted.identity, impostor.cert_path, impostor.key_path)
    forged.sign = impostor.sign  # type: ignore[method-assign]
    with pytest.raises(transport.Refused):
        await transport.async_connect(forged, "127.0.0.1", box.port, box.node_id)
    assert box.sessions == []


def _raw_tls(port: int) -> ssl.SSLSocket:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


async def test_a_plain_tcp_client_gets_no_data(box: Box) -> None:
    def talk() -> bytes:
        with socket.create_connection(("127.0.0.1", box.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            chunks = b""
            try:
                while chunk := sock.recv(4096):
                    chunks += chunk
            except (ConnectionResetError, TimeoutError):
                pass
            return chunks

    answer = await asyncio.to_thread(talk)
    assert b"HTTP" not in answer and b"pong" not in answer
    # Whatever came back (a TLS alert at most) is not a frame of ours.
    assert len(answer) < 16


async def test_a_tls_client_that_cannot_sign_gets_only_the_greeting(box: Box) -> None:
    def talk() -> list[bytes]:
        frames = []
        with _raw_tls(box.port) as sock:
            frames.append(sock.recv(4096))  # the hello with its nonce: no data
            sock.sendall(framing.encode_frame(framing.pack({"t": "auth", "mode": "sync"})))
            try:
                while chunk := sock.recv(4096):
                    frames.append(chunk)
            except (ssl.SSLError, ConnectionResetError):
                pass
        return frames

    frames = await asyncio.to_thread(talk)
    hello = framing.unpack(frames[0][4:])
    assert set(hello) == {"t", "v", "nonce"}
    assert frames[1:] == [] and box.sessions == []


async def test_an_oversized_frame_is_refused_before_it_is_read(box: Box) -> None:
    def talk() -> bytes:
        with _raw_tls(box.port) as sock:
            sock.recv(4096)
            sock.sendall((50 * 1024 * 1024).to_bytes(4, "big"))
            try:
                return sock.recv(4096)
            except (ssl.SSLError, ConnectionResetError):
                return b""

    assert await asyncio.to_thread(talk) == b""


async def test_the_certificate_is_self_signed_with_the_identity_key(tmp_path: Path) -> None:
    endpoint = _endpoint(tmp_path / "a")
    der = ssl.PEM_cert_to_DER_cert(endpoint.cert_path.read_text())
    assert certs.public_key_of(der) == endpoint.identity.public_bytes
    assert certs.node_id_of(der) == endpoint.identity.node_id
    assert oct(endpoint.key_path.stat().st_mode & 0o777) == "0o600"
    # A second start reuses the files rather than minting a new certificate.
    again = transport.Endpoint.for_data_dir(tmp_path / "a", endpoint.identity)
    assert again.cert_path.read_bytes() == endpoint.cert_path.read_bytes()


async def test_pairing_with_the_right_code_trusts_both_ways(box: Box, tmp_path: Path) -> None:
    box.server.desk.offer = pairing.Offer.create(60)
    client = _endpoint(tmp_path / "b")
    peer, session = await transport.async_connect(
        client, "127.0.0.1", box.port, None, code=box.server.desk.offer.code.lower()
    )
    assert session is None and peer == box.node_id
    assert box.paired == [client.identity.node_id]
    assert box.server.desk.offer.state() == "paired"


async def test_a_wrong_code_burns_the_offer(box: Box, tmp_path: Path) -> None:
    offer = box.server.desk.offer = pairing.Offer.create(60)
    wrong = "ABCDE-FGHJK" if offer.code != "ABCDE-FGHJK" else "ZZZZZ-ZZZZZ"
    client = _endpoint(tmp_path / "b")
    with pytest.raises(transport.Refused):
        await transport.async_connect(client, "127.0.0.1", box.port, None, code=wrong)
    assert offer.state() == "failed" and box.paired == []
    # Even the right code is now useless: the attacker's one guess cost the offer.
    with pytest.raises(transport.Refused):
        await transport.async_connect(client, "127.0.0.1", box.port, None, code=offer.code)
    assert box.paired == []


async def test_pairing_without_an_open_offer_is_refused(box: Box, tmp_path: Path) -> None:
    client = _endpoint(tmp_path / "b")
    with pytest.raises(transport.Refused):
        await transport.async_connect(client, "127.0.0.1", box.port, None, code="ABCDE-FGHJK")


async def test_probe_reads_the_node_id_without_authenticating(box: Box, tmp_path: Path) -> None:
    client = _endpoint(tmp_path / "b")
    assert await transport.async_probe(client, "127.0.0.1", box.port) == box.node_id
    await asyncio.sleep(0.05)
    assert box.sessions == []


async def test_idle_connections_cannot_pile_up(box: Box, tmp_path: Path) -> None:
    """Silent TLS clients hold at most MAX_PENDING slots; the rest are dropped at once."""
    held = []
    for _ in range(transport.MAX_PENDING):
        held.append(await asyncio.to_thread(_raw_tls, box.port))
    for _ in range(50):
        if box.server.pending == transport.MAX_PENDING:
            break
        await asyncio.sleep(0.02)
    assert box.server.pending == transport.MAX_PENDING
    extra = await asyncio.to_thread(_raw_tls, box.port)
    extra.settimeout(5)
    assert await asyncio.to_thread(extra.recv, 4096) == b""  # no greeting: closed
    extra.close()
    for sock in held:
        sock.close()
    for _ in range(100):
        if box.server.pending == 0:
            break
        await asyncio.sleep(0.02)
    # Once they are gone, a trusted peer gets in as before.
    client = _endpoint(tmp_path / "b")
    box.trusted.add(client.identity.node_id)
    _, session = await transport.async_connect(client, "127.0.0.1", box.port, box.node_id)
    assert session is not None
    await session.close()
