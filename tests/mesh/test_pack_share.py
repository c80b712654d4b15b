"""Content packs between real boxes on loopback: TLS, SQLite, the sync protocol, blobs.

A box publishes a pack; a box that trusts it and accepts the pack installs and serves
it.  Packs signed by an untrusted node, entries naming a publisher who did not sign
them, archives altered on the way and broken packs are never installed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from meshportal.blobs import BlobStore
from meshportal.mesh.service import Mesh
from meshportal.pack_archive import pack_folder
from meshportal.pack_catalog import CATALOG
from meshportal.pack_share import PackShare, ShareError, served_packs
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
        for _ in range(200):  # installing runs in the background, after the session
            if not self.share._tasks:
                break
            await asyncio.sleep(0.02)
        return result

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
            accept=mesh.settings.list_of("packs_accept"), trusted=mesh.is_trusted,
            served_version=served_version, reload=reload,
        )  # fmt: skip
        mesh.extra_wanted, mesh.on_fetched = share.wanted_blobs, share.soon
        await mesh.async_start()
        share.start()
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
    box.served[:] = served_packs(box.root / "content", box.root / "data" / "packs")[0]


async def test_a_trusted_box_takes_an_accepted_pack_and_its_updates(make_box: Factory) -> None:
    a, b = await make_box("a"), await make_box("b", accept="cuisine")
    await a.trust(b)
    await b.trust(a)
    write_pack(a, "cuisine", "1.9", "Le pain au levain")
    write_pack(a, "jardin", "1", "Pas accepté par b")
    await reload(a)
    entry = await a.publish("cuisine")
    await a.publish("jardin")
    assert entry.publisher == a.node_id and entry.version == "1.9"
    assert await a.publish("cuisine") == entry  # the same bytes again: nothing to do

    result = await b.sync(a)
    assert result.completed and result.blobs == 1, result  # jardin is not fetched at all
    cuisine = b.pack("cuisine")
    assert cuisine is not None and cuisine.version == "1.9"
    assert "Le pain au levain" in cuisine.lessons[0].body
    assert cuisine.path == b.root / "data" / "packs" / "cuisine"
    assert b.pack("jardin") is None and not b.blobs.has((await a.publish("jardin")).digest)
    section = await b.share.status_section()
    assert section["installed"] == [{"name": "cuisine", "version": "1.9", "publisher": a.node_id}]

    write_pack(a, "cuisine", "1.9", "Changé sans changer de version")
    await reload(a)
    with pytest.raises(ShareError, match="raise the version"):
        await a.publish("cuisine")
    write_pack(a, "cuisine", "1.10", "Le pain de seigle")  # 1.10 > 1.9
    await reload(a)
    await a.publish("cuisine")
    await b.sync(a)
    cuisine = b.pack("cuisine")
    assert cuisine is not None and cuisine.version == "1.10"
    assert "Le pain de seigle" in cuisine.lessons[0].body
    assert not any((b.root / "data" / "packs-staging").iterdir())  # nothing left behind


async def test_packs_signed_by_an_untrusted_node_are_never_installed(make_box: Factory) -> None:
    a = await make_box("a")
    b = await make_box("b", accept="*", public_mode=True)  # public mode syncs with anyone
    c = await make_box("c")
    await a.trust(c)
    await c.trust(a)
    await a.trust(b)
    await b.trust(a)  # b trusts a, not c
    await c.trust(b)  # c would talk to b, b does not vouch for c
    await b.see(c)
    write_pack(c, "eau", "1", "Filtrer l'eau")
    await reload(c)
    await c.publish("eau")
    assert (await a.sync(c)).completed
    assert (await b.sync(a)).completed  # c's entry reaches b through a, signed by c
    catalog = (await b.host.replica()).value(CATALOG)
    assert catalog["eau"][3] == c.node_id
    assert b.pack("eau") is None
    assert "not trusted" in b.share.refused()["eau"]
    assert b.share.wanted_blobs(await b.host.replica()) == {}  # not even fetched
    assert (await b.sync(c)).completed  # public mode: b syncs with c itself...
    assert b.pack("eau") is None  # ...and still installs nothing of it

    # a revoked publisher: its new entry is dropped on the way, and never installed
    write_pack(a, "pain", "1", "Du pain")
    await reload(a)
    await a.publish("pain")
    assert (await c.sync(a)).completed
    await b.mesh.peers.set_trust(a.node_id, False)
    await b.mesh.reload_trust()
    result = await b.sync(c)
    assert result.completed and result.dropped >= 1
    assert b.pack("pain") is None and "pain" not in (await b.host.replica()).value(CATALOG)


async def test_an_entry_naming_a_publisher_who_did_not_sign_it_is_refused(
    make_box: Factory,
) -> None:
    a, b, c = await make_box("a"), await make_box("b", accept="*"), await make_box("c")
    await a.trust(b)
    await b.trust(a)
    await b.trust(c)  # b trusts c; a pretends c published a pack
    folder = write_pack(a, "faux", "1", "Pas de c")
    data = pack_folder(folder)
    digest = a.blobs.put(data)
    async with a.host.editing() as replica:
        replica.set_key(CATALOG, "faux", ["1", digest, len(data), c.node_id])
    assert (await b.sync(a)).completed
    assert b.pack("faux") is None
    assert "did not sign" in b.share.refused()["faux"]


async def test_an_altered_archive_and_a_broken_pack_are_refused(make_box: Factory) -> None:
    a, b = await make_box("a"), await make_box("b", accept="*")
    await a.trust(b)
    await b.trust(a)
    write_pack(a, "cuisine", "1", "Version une")
    await reload(a)
    entry = await a.publish("cuisine")
    blob = a.blobs.path(entry.digest)
    good = blob.read_bytes()
    blob.write_bytes(good[:-4] + b"XXXX")  # altered where it is served from
    result = await b.sync(a)
    assert result.completed and result.blobs == 0
    assert b.pack("cuisine") is None and not b.blobs.has(entry.digest)
    assert b.blobs.partial_size(entry.digest) == 0  # the bad bytes are not kept

    blob.write_bytes(good)
    await b.sync(a)
    assert b.pack("cuisine") is not None and b.pack("cuisine").version == "1"  # type: ignore[union-attr]

    # version 2 is broken (a lesson without front matter): b keeps serving version 1
    folder = write_pack(a, "cuisine", "2", "Version deux")
    (folder / "01-lecon.fr.md").write_text("pas de front matter\n")
    data = pack_folder(folder)
    digest = a.blobs.put(data)
    async with a.host.editing() as replica:
        replica.set_key(CATALOG, "cuisine", ["2", digest, len(data), a.node_id])
    assert (await b.sync(a)).completed
    served = b.pack("cuisine")
    assert served is not None and served.version == "1"
    assert "a lesson starts with +++" in b.share.refused()["cuisine"]
