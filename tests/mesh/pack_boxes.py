"""Boxes in one process that share content packs: the mesh, the replica, the blobs and a
PackShare wired the way the app wires them (see app._mesh), on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from meshportal.blobs import BlobStore
from meshportal.mesh.service import Mesh
from meshportal.pack_disk import served_packs
from meshportal.pack_share import PackShare
from meshportal.pack_withdrawals import WithdrawalTable
from meshportal.packs import Pack
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database
from tests.mesh.loopback import open_box, trust
from tests.test_packs import GOOD, make_pack


class Box:
    def __init__(self, root: Path, mesh: Mesh, db: Database, host: ReplicaHost,
                 blobs: BlobStore, share: PackShare, served: list[Pack]) -> None:  # fmt: skip
        self.root, self.mesh, self.db, self.host = root, mesh, db, host
        self.blobs, self.share, self.served = blobs, share, served

    @property
    def node_id(self) -> str:
        return self.mesh.identity.node_id

    async def trust(self, other: Box) -> None:
        await trust(self.mesh, other.mesh)

    async def see(self, other: Box) -> None:
        await self.mesh.peers.seen(other.node_id, "", ["127.0.0.1"], other.mesh.sync_port)

    async def sync(self, other: Box) -> Any:
        assert self.mesh.replicator is not None
        result = await self.mesh.replicator.sync_with(other.node_id)
        await self.settle()
        return result

    async def settle(self) -> None:
        """Wait for the background catalog pass (installing runs after the session)."""
        for _ in range(200):
            if not self.share._tasks:
                break
            await asyncio.sleep(0.02)

    async def admin(self, command: str, **fields: Any) -> dict[str, Any]:
        """An admin socket command, as the daemon runs it (minus the socket)."""
        answer: dict[str, Any] = await self.mesh.commands()[command](fields)
        await self.settle()
        return answer

    def pack(self, name: str) -> Pack | None:
        return next((p for p in self.served if p.name == name), None)

    async def publish(self, name: str) -> Any:
        pack = self.pack(name)
        assert pack is not None
        return await self.share.publish(pack)


Factory = Callable[..., Awaitable[Box]]


@pytest.fixture
async def make_box(tmp_path: Path) -> AsyncIterator[Factory]:
    made: list[Box] = []

    async def make(name: str, accept: str = "", public_mode: bool = False) -> Box:
        root = tmp_path / name
        data, content = root / "data", root / "content"
        data.mkdir(parents=True)
        content.mkdir()
        mesh, db, host, blobs = await open_box(
            data, name, packs_accept=accept, public_mode=public_mode
        )
        served: list[Pack] = []

        async def reload() -> None:  # what the app's reload_content does with the list
            served[:] = served_packs(content, data / "packs")[0]

        def served_version(pack: str) -> str | None:
            return next((p.version for p in served if p.name == pack), None)

        share = PackShare(
            host=host, blobs=blobs, data_dir=data, node_id=mesh.identity.node_id,
            withdrawals=WithdrawalTable(db), accept=mesh.settings.list_of("packs_accept"),
            trusted=mesh.is_trusted, served_version=served_version, reload=reload,
        )  # fmt: skip
        share.attach(mesh)
        await mesh.async_start()
        await share.start()
        await reload()
        box = Box(root, mesh, db, host, blobs, share, served)
        made.append(box)
        return box

    try:
        yield make
    finally:
        for box in made:
            await box.share.stop()
            await box.mesh.async_stop()
            await box.db.close()


def write_pack(box: Box, name: str, version: str, text: str) -> Path:
    folder = box.root / "content" / name
    if not folder.exists():
        make_pack(box.root / "content", name, GOOD)
    manifest = folder / "manifest.toml"
    manifest.write_text(manifest.read_text().split("version")[0] + f'version = "{version}"\n')
    (folder / "01-lecon.fr.md").write_text(GOOD.replace("Texte", text))
    return folder


async def reload(box: Box) -> None:
    """Read the box's packs again, as the app's reload_content does."""
    await box.share.reload()


async def two_boxes(make_box: Factory, accept: str = "*") -> tuple[Box, Box]:
    """a and b, trusting each other; b takes the packs named by ``accept``."""
    a, b = await make_box("a"), await make_box("b", accept=accept)
    await a.trust(b)
    await b.trust(a)
    return a, b
