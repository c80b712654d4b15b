"""Replication between real meshes on loopback: TLS, SQLite, the sync protocol, blobs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshportal.blobs import BlobStore
from meshportal.mesh.link import CHUNK
from meshportal.mesh.service import Mesh
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database
from tests.mesh.loopback import open_box, trust


class Node:
    def __init__(self, mesh: Mesh, db: Database, host: ReplicaHost, blobs: BlobStore) -> None:
        self.mesh, self.db, self.host, self.blobs = mesh, db, host, blobs

    @property
    def node_id(self) -> str:
        return self.mesh.identity.node_id

    async def trust(self, other: Node) -> None:
        await trust(self.mesh, other.mesh)

    async def text(self, name: str) -> str:
        return (await self.host.replica()).text(name)

    async def sync(self, other: Node):  # type: ignore[no-untyped-def]
        assert self.mesh.replicator is not None
        return await self.mesh.replicator.sync_with(other.node_id)


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[Node]]:
    made: list[Node] = []
    for name in "abc":
        data = tmp_path / name
        data.mkdir()
        mesh, db, host, blobs = await open_box(data, name)
        await mesh.async_start()
        made.append(Node(mesh, db, host, blobs))
    try:
        yield made
    finally:
        for node in made:
            await node.mesh.async_stop()
            await node.db.close()


async def test_two_boxes_converge_and_then_exchange_almost_nothing(nodes: list[Node]) -> None:
    a, b, _ = nodes
    await a.trust(b)
    await b.trust(a)
    async with a.host.editing() as replica:
        replica.replace_text("wiki/p1/body", "Bonjour depuis A 🌱")
    async with b.host.editing() as replica:
        replica.replace_text("wiki/p2/body", "Hello from B")
        replica.set_key("wiki/p2/meta", "title", "B")
    result = await a.sync(b)
    assert result is not None and result.completed, result
    assert (result.behind, result.ahead) == (0, 0)
    assert result.applied == 2
    for node in (a, b):
        assert await node.text("wiki/p1/body") == "Bonjour depuis A 🌱"
        assert await node.text("wiki/p2/body") == "Hello from B"
    assert (await a.host.replica()).vv == (await b.host.replica()).vv
    again = await a.sync(b)
    assert again is not None and again.completed and again.in_sync and again.applied == 0
    print(f"\nfirst sync {result.bytes_out + result.bytes_in} B; already even: "
          f"{again.bytes_out + again.bytes_in} B")  # fmt: skip
    assert again.bytes_out + again.bytes_in < 400
    listed = {p.node_id: p for p in await a.mesh.peers.list()}
    assert listed[b.node_id].last_sync is not None and listed[b.node_id].bytes_out > 0


async def test_an_untrusted_box_gets_nothing_and_gives_nothing(nodes: list[Node]) -> None:
    a, b, _ = nodes
    await a.trust(b)  # a trusts b, b does not trust a
    await b.mesh.peers.seen(a.node_id, "", ["127.0.0.1"], a.mesh.sync_port)
    async with a.host.editing() as replica:
        replica.replace_text("wiki/p1/body", "secret de A")
    async with b.host.editing() as replica:
        replica.replace_text("wiki/p2/body", "secret de B")
    result = await a.sync(b)
    assert result is not None and not result.completed and "refused" in result.error
    assert await b.sync(a) is None  # b's policy: never connects to an untrusted box
    assert await a.text("wiki/p2/body") == "" and await b.text("wiki/p1/body") == ""


async def test_changes_relay_through_a_middle_box_and_revoked_authors_are_refused(
    nodes: list[Node],
) -> None:
    a, b, c = nodes
    await a.trust(b)
    await b.trust(a)
    await b.trust(c)
    await c.trust(b)  # a and c never talk
    async with a.host.editing() as replica:
        replica.replace_text("wiki/p1/body", "écrit sur A")
    assert (await b.sync(a)).completed  # type: ignore[union-attr]
    assert (await c.sync(b)).completed  # type: ignore[union-attr]
    assert await c.text("wiki/p1/body") == "écrit sur A"  # relayed, still A's signature
    author = (await a.host.replica()).node_id  # the sync id of a's key
    assert (await c.host.replica()).vv[author] == 1

    await c.mesh.peers.set_trust(a.node_id, False)  # c revokes a
    await c.mesh.reload_trust()
    async with a.host.editing() as replica:
        replica.replace_text("wiki/p1/body", "écrit sur A, puis changé")
    async with b.host.editing() as replica:
        replica.replace_text("wiki/p2/body", "écrit sur B")
    assert (await b.sync(a)).completed  # type: ignore[union-attr]
    result = await c.sync(b)
    assert result is not None and result.completed and result.dropped == 1
    assert await c.text("wiki/p1/body") == "écrit sur A"  # the past stays, the future is refused
    assert await c.text("wiki/p2/body") == "écrit sur B"


async def test_attachments_follow_their_page_and_resume_from_a_partial_file(
    nodes: list[Node],
) -> None:
    a, b, _ = nodes
    await a.trust(b)
    await b.trust(a)
    content = bytes(range(256)) * (3 * CHUNK // 256 + 17)  # a little over 3 chunks
    digest = a.blobs.put(content)
    async with a.host.editing() as replica:
        replica.replace_text("wiki/p1/body", "voir le plan")
        replica.set_key(
            "wiki/p1/files",
            "plan.bin",
            {"hash": digest, "size": len(content), "type": "application/octet-stream"},
        )
    # a fetch cut after one chunk left this much behind
    b.blobs.append_partial(digest, 0, content[:CHUNK], len(content))
    result = await b.sync(a)
    assert result is not None and result.completed, result
    assert result.blobs == 1 and result.blob_bytes == len(content) - CHUNK
    assert b.blobs.read(digest) == content
    assert b.blobs.partial_size(digest) == 0


async def test_a_wrong_attachment_is_refused_and_not_kept(nodes: list[Node]) -> None:
    a, b, _ = nodes
    await a.trust(b)
    await b.trust(a)
    content = b"la vraie carte" * 1000
    digest = a.blobs.put(content)
    a.blobs.path(digest).write_bytes(b"X" + content[1:])  # corrupt on a's disk
    async with a.host.editing() as replica:
        replica.set_key("wiki/p1/files", "carte.txt", {"hash": digest, "size": len(content),
                                                        "type": "text/plain"})  # fmt: skip
    result = await b.sync(a)
    assert result is not None and result.completed and result.blobs == 0
    assert not b.blobs.has(digest) and b.blobs.partial_size(digest) == 0
    assert hashlib.sha256(content).hexdigest() == digest


async def test_a_link_known_on_one_side_only_carries_pushes_both_ways(nodes: list[Node]) -> None:
    """Only `a` knows how to reach `b` (a hand-added peer, no mDNS): after `a` connects
    once, `b` has learnt `a`'s address and sync port and can push its next edit itself."""
    a, b, _ = nodes
    await a.trust(b)
    await b.mesh.peers.set_trust(a.node_id, True)  # trusted, but no address known
    await b.mesh.reload_trust()
    assert not {p.node_id: p for p in await b.mesh.peers.list()}[a.node_id].addresses
    first = await a.sync(b)
    assert first is not None and first.completed
    learnt = {p.node_id: p for p in await b.mesh.peers.list()}[a.node_id]
    assert learnt.addresses == ["127.0.0.1"] and learnt.sync_port == a.mesh.sync_port
    async with b.host.editing() as replica:
        replica.replace_text("wiki/p9/body", "poussé par B")
    pushed = await b.sync(a)  # what b's commit listener does, debounced
    assert pushed is not None and pushed.completed
    assert await a.text("wiki/p9/body") == "poussé par B"
