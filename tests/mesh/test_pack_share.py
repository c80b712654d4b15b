"""Content packs between real boxes on loopback: TLS, SQLite, the sync protocol, blobs.

A box publishes a pack; a box that trusts it and accepts the pack installs and serves
it.  Packs signed by an untrusted node, entries naming a publisher who did not sign
them, archives altered on the way and broken packs are never installed."""

from __future__ import annotations

import pytest

from meshportal.pack_archive import pack_folder
from meshportal.pack_catalog import CATALOG
from meshportal.pack_share import ShareError
from tests.mesh.pack_boxes import Factory, reload, two_boxes, write_pack


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
    a, b = await two_boxes(make_box)
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
