"""The wiki's index follows the replica: remote changes, rebuild after a crash."""

from __future__ import annotations

from pathlib import Path

from meshportal.app import library_migrations
from meshportal.blobs import BlobStore
from meshportal.identity import create_or_load
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database
from meshportal.wiki import pages as P
from meshportal.wiki.service import Wiki
from sync.identity import Identity as SyncIdentity
from sync.replica import Replica


async def _open(data: Path) -> tuple[Database, Wiki]:
    identity, _ = create_or_load(data)
    db = await Database.open(data / "box.sqlite3", library_migrations())
    host = ReplicaHost(db, identity)
    return db, Wiki(db, host, BlobStore(data / "blobs", 10**6), identity.node_id)


def _remote_page(title: str, slug: str, text: str) -> list[bytes]:
    other = Replica(SyncIdentity.generate())
    pid = "0123456789ab"
    other.set_key(P.meta(pid), "title", title)
    other.set_key(P.meta(pid), "slug", slug)
    other.set_key(P.SLUGS, slug, pid)
    other.replace_text(P.body(pid), text)
    other.seal()
    return other.changes_since({})


async def test_a_page_from_another_box_is_indexed(tmp_path: Path) -> None:
    db, wiki = await _open(tmp_path)
    await wiki.save("", "local", base="", title="Locale")
    await wiki.host.apply(_remote_page("Réparer", "reparer", "Réparer un téléphone [[Locale]]"))
    assert [p.slug for p in await wiki.pages()] == ["locale", "reparer"]
    hits = await wiki.search("telephone")
    assert [h.title for h in hits] == ["Réparer"]
    assert await wiki.backlinks("locale") == [("reparer", "Réparer")]
    assert len(await wiki.recent()) == 2
    await db.close()


async def test_the_index_is_rebuilt_when_it_lags_the_replica(tmp_path: Path) -> None:
    db, wiki = await _open(tmp_path)
    await wiki.save("", "Compostage collectif", base="", title="Compost")
    before = await wiki.pages()
    # as after a power cut between the replica's commit and the index's
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM wiki_page")
        await conn.execute("DELETE FROM portal_search WHERE kind = 'wiki'")
        await conn.execute("DELETE FROM wiki_state")
    await db.close()
    db, wiki = await _open(tmp_path)
    assert await wiki.pages() == before
    assert [h.title for h in await wiki.search("compostage")] == ["Compost"]
    await db.close()
