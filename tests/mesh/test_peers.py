"""The peer table on a real SQLite file, and address parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from meshportal.app import library_migrations
from meshportal.cli_peer import _TEXT, format_peers
from meshportal.identity import create_or_load, node_id_from_public_key
from meshportal.mesh.peers import MAX_ADDRESSES, PeerError, PeerTable, parse_host_port
from meshportal.mesh.service import Mesh
from meshportal.settings import load_settings
from meshportal.store import Database

A = node_id_from_public_key(b"a" * 32)
B = node_id_from_public_key(b"b" * 32)


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[PeerTable]:
    db = await Database.open(tmp_path / "db.sqlite3", library_migrations())
    yield PeerTable(db)
    await db.close()


async def test_one_row_per_node_with_all_its_addresses(table: PeerTable) -> None:
    await table.seen(A, "box-a", ["10.0.0.1"], 7717, "0" * 16)
    await table.seen(A, "box-a", ["192.168.1.5", "10.0.0.1"], 7717)
    [peer] = await table.list()
    assert peer.addresses == ["192.168.1.5", "10.0.0.1"]
    assert peer.digest == "0" * 16  # an update without a digest keeps the last one
    assert peer.online and not peer.trusted and peer.last_seen


async def test_a_sighting_without_a_name_keeps_the_known_name(table: PeerTable) -> None:
    await table.seen(A, "box-a", ["10.0.0.1"], 7717)
    await table.seen(A, "", ["10.0.0.2"], 7717)  # a probe by address names nobody
    [peer] = await table.list()
    assert peer.name == "box-a" and peer.addresses == ["10.0.0.2", "10.0.0.1"]


async def test_an_address_is_learnt_only_when_none_is_known(table: PeerTable) -> None:
    await table.set_trust(B, True)
    await table.learn_address(B, "127.0.0.1", 7001)
    await table.learn_address(B, "127.0.0.9", 7009)  # already reachable: kept as it was
    peer = next(p for p in await table.list() if p.node_id == B)
    assert peer.addresses == ["127.0.0.1"] and peer.sync_port == 7001


async def test_addresses_are_capped(table: PeerTable) -> None:
    await table.seen(A, "a", [f"10.0.0.{i}" for i in range(20)], 1)
    [peer] = await table.list()
    assert len(peer.addresses) == MAX_ADDRESSES


async def test_untrust_records_a_revocation_and_trust_lifts_it(table: PeerTable) -> None:
    await table.seen(A, "a", ["10.0.0.1"], 1)
    await table.set_trust(A.lower(), True)
    assert await table.trusted_ids() == {A}
    await table.set_trust(A, False)
    assert await table.trusted_ids() == set() and await table.revoked_ids() == {A}
    [peer] = await table.list()
    assert peer.revoked and not peer.trusted
    await table.set_trust(A, True)
    assert await table.revoked_ids() == set()


async def test_trusting_a_node_never_seen_creates_its_row(table: PeerTable) -> None:
    await table.set_trust(B, True)
    [peer] = await table.list()
    assert peer.node_id == B and peer.trusted and not peer.online and peer.addresses == []


async def test_a_bad_node_id_is_refused_and_nothing_written(table: PeerTable) -> None:
    with pytest.raises(PeerError, match="not a valid node id"):
        await table.set_trust("AAAA-BBBB", True)
    assert await table.list() == []


async def test_gone_and_restart_mark_peers_offline(table: PeerTable) -> None:
    await table.seen(A, "a", ["10.0.0.1"], 1)
    await table.seen(B, "b", ["10.0.0.2"], 1)
    await table.gone(A)
    assert {p.node_id: p.online for p in await table.list()} == {A: False, B: True}
    await table.all_offline()
    assert not any(p.online for p in await table.list())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1", 7717)),
        ("10.0.0.1:9000", ("10.0.0.1", 9000)),
        ("box.local", ("box.local", 7717)),
        ("[fe80::1]:9000", ("fe80::1", 9000)),
        ("[fe80::1]", ("fe80::1", 7717)),
    ],
)
def test_host_port_parsing(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 7717) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:99999", "host:abc", "a b:1", ":80"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(PeerError):
        parse_host_port(text, 7717)


async def test_a_block_for_forged_changes_survives_a_restart_until_trusted_again(
    tmp_path: Path,
) -> None:
    # the mesh blocks a box whose changes fail signature checks; a restart used to forget
    # it, and the box's packs were taken again and its sessions accepted
    identity, _created = create_or_load(tmp_path)
    db = await Database.open(tmp_path / "db.sqlite3", library_migrations())
    try:
        mesh = Mesh(load_settings(env={}), identity, db)
        await mesh.peers.set_trust(A, True)
        await mesh.reload_trust()
        assert mesh.is_trusted(A) and mesh.policy(A) == "trusted"
        await mesh._on_forged(A)
        assert mesh.policy(A) is None and not mesh.is_trusted(A)
        restarted = Mesh(load_settings(env={}), identity, db)
        await restarted.reload_trust()
        assert restarted.policy(A) is None and not restarted.is_trusted(A)
        assert await restarted.peers.blocked() == {A: "sent forged changes"}
        [listed] = await restarted.peers.list()  # what `peer list` shows, daemon stopped
        assert listed.blocked == "sent forged changes"
        shown = format_peers([listed.as_dict()], _TEXT["en"])
        assert "trusted, blocked (forged changes" in shown.splitlines()[0]
        await restarted.peers.set_trust(A, True)  # the admin vouches for it again
        await restarted.reload_trust()
        assert restarted.is_trusted(A) and await restarted.peers.blocked() == {}
    finally:
        await db.close()


async def test_vouched_ids_are_trusted_neither_revoked_nor_blocked(table: PeerTable) -> None:
    # what Mesh.is_trusted answers, for `pack list` with the daemon stopped
    for node in (A, B):
        await table.set_trust(node, True)
    assert await table.vouched_ids() == {A, B}
    await table.block(B, "sent forged changes")
    assert await table.vouched_ids() == {A}
    await table.set_trust(A, False)
    assert await table.vouched_ids() == set()
