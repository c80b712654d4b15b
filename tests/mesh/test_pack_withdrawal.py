"""Packs withdrawn when their publisher loses this box's trust, between real boxes on
loopback: not served to visitors, not offered to peers, back when trusted again."""

from __future__ import annotations

import json

from meshportal.pack_catalog import CatalogEntry, parse_accept
from meshportal.pack_disk import RECORD
from meshportal.pack_withdrawals import REMOVED, UNTRUSTED
from tests.mesh.pack_boxes import Box, Factory, reload, two_boxes, write_pack


async def _taken(make_box: Factory, text: str) -> tuple[Box, Box, CatalogEntry]:
    """Two boxes that trust each other; b took version 1 of a's pack "cuisine"."""
    a, b = await two_boxes(make_box)
    write_pack(a, "cuisine", "1", text)
    await reload(a)
    entry = await a.publish("cuisine")
    await b.sync(a)
    assert b.pack("cuisine") is not None
    # whose it is travels inside the folder, written before the swap (see pack_disk)
    record = json.loads((b.root / "data" / "packs" / "cuisine" / RECORD).read_text())
    assert (record["publisher"], record["hash"]) == (a.node_id, entry.digest)
    return a, b, entry


async def test_distrust_withdraws_a_publishers_packs_and_trust_brings_them_back(
    make_box: Factory,
) -> None:
    a, b = await make_box("a"), await make_box("b", accept="cuisine")
    d = await make_box("d", accept="cuisine")  # trusts a, but reaches only b
    await a.trust(b)
    await b.trust(a)
    await b.trust(d)
    await d.trust(b)
    await d.mesh.peers.set_trust(a.node_id, True)
    await d.mesh.reload_trust()
    write_pack(a, "cuisine", "1", "Le pain au levain")
    write_pack(b, "bienvenue", "1", "Le pack de b")  # b's own: never touched
    await reload(a)
    await reload(b)
    entry = await a.publish("cuisine")
    assert (await b.sync(a)).completed and b.pack("cuisine") is not None
    folder = b.root / "data" / "packs" / "cuisine"

    answer = await b.admin("peer.untrust", node_id=a.node_id)
    assert answer["packs_withdrawn"] == ["cuisine"]
    assert b.pack("cuisine") is None and not folder.exists()  # visitors: gone at once
    assert b.pack("bienvenue") is not None
    assert b.blobs.has(entry.digest)  # the archive is kept, for a change of heart
    assert b.share.withdrawn()["cuisine"].reason == UNTRUSTED
    assert b.share.withheld_blobs() == {entry.digest}
    # d takes cuisine from a's catalog entry (it trusts a) but b no longer offers it
    result = await d.sync(b)
    assert result.completed and result.blobs == 0, result
    assert d.pack("cuisine") is None and not d.blobs.has(entry.digest)

    answer = await b.admin("peer.trust", node_id=a.node_id)
    served = b.pack("cuisine")  # from the kept archive, before any sync
    assert served is not None and served.version == "1" and folder.is_dir()
    assert "cuisine" not in b.share.withdrawn() and b.share.withheld_blobs() == set()
    assert (await d.sync(b)).completed
    assert d.pack("cuisine") is not None  # offered again


async def test_a_removed_pack_is_not_taken_again_until_accepted(make_box: Factory) -> None:
    a, b, first = await _taken(make_box, "Version une")

    item = await b.share.remove("cuisine")
    assert (item.reason, item.version, item.publisher) == (REMOVED, "1", a.node_id)
    assert b.pack("cuisine") is None and not b.blobs.has(first.digest)  # SD space freed
    write_pack(a, "cuisine", "2", "Version deux")
    await reload(a)
    second = await a.publish("cuisine")
    assert (await b.sync(a)).completed
    assert b.pack("cuisine") is None and not b.blobs.has(second.digest)  # not even fetched
    assert "removed by the admin" in b.share.refused()["cuisine"]
    # distrust then trust again: a removal stays a removal
    await b.admin("peer.untrust", node_id=a.node_id)
    await b.admin("peer.trust", node_id=a.node_id)
    assert b.share.withdrawn()["cuisine"].reason == REMOVED

    asked: list[str] = []  # the mesh's sync_now, in the daemon
    b.share.fetch_from = asked.append
    assert await b.share.accept("cuisine")
    assert asked == [a.node_id]  # its archive was deleted: fetched now, from its publisher
    assert not await b.share.accept("cuisine")  # nothing left to lift
    await b.sync(a)  # the conversation that fetch starts
    served = b.pack("cuisine")
    assert served is not None and served.version == "2"
    assert b.share.withdrawn() == {}


async def test_a_pack_packs_accept_no_longer_names_is_withdrawn_and_back_when_named(
    make_box: Factory,
) -> None:
    a, b, entry = await _taken(make_box, "Le pain au levain")
    # the admin narrows packs_accept (the box reads it at its next start, where a pass runs)
    b.share.accept_list, b.share.accepts = ["autre"], parse_accept(["autre"])
    await b.share.check()
    assert b.pack("cuisine") is None
    assert b.blobs.has(entry.digest) and b.share.withdrawn() == {}  # nothing refused
    await b.sync(a)
    assert b.pack("cuisine") is None  # not taken again either
    b.share.accept_list, b.share.accepts = ["*"], parse_accept(["*"])
    assert await b.share.check() == ["cuisine"]  # from the kept archive, no sync needed
    assert b.pack("cuisine") is not None
