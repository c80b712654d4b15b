"""The neighbour table on real files: parsed, re-read at most once a second, and an
acceptance that ends when another device (another MAC) takes the address."""

from __future__ import annotations

from pathlib import Path

from captive.acceptance import AcceptanceStore, transactions_on
from captive.neighbours import NeighbourTable, parse_arp_table
from tests.captive.conftest import open_db

HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n"


def arp_line(ip: str, mac: str, flags: str = "0x2") -> str:
    return f"{ip:<17}0x1         {flags:<12}{mac}     *        wlan0\n"


def test_parse_keeps_complete_entries_only() -> None:
    text = (
        HEADER
        + arp_line("10.0.0.5", "AA:BB:CC:DD:EE:01")
        + arp_line("10.0.0.6", "00:00:00:00:00:00", "0x0")
        + arp_line("10.0.0.7", "not-a-mac")
        + "garbage\n"
    )
    assert parse_arp_table(text) == {"10.0.0.5": "aa:bb:cc:dd:ee:01"}


def test_table_is_read_at_most_once_per_max_age(tmp_path: Path) -> None:
    path = tmp_path / "arp"
    path.write_text(HEADER + arp_line("10.0.0.5", "aa:bb:cc:dd:ee:01"))
    now = [100.0]
    table = NeighbourTable(path, max_age=1.0, clock=lambda: now[0])
    assert table.mac_of("10.0.0.5") == "aa:bb:cc:dd:ee:01"
    path.write_text(HEADER + arp_line("10.0.0.5", "aa:bb:cc:dd:ee:02"))
    now[0] += 0.5
    assert table.mac_of("10.0.0.5") == "aa:bb:cc:dd:ee:01"  # not re-read yet
    assert table.mac_of("10.0.0.5", fresh=True) == "aa:bb:cc:dd:ee:02"
    path.write_text(HEADER)
    now[0] += 1.0
    assert table.mac_of("10.0.0.5") is None
    path.unlink()
    now[0] += 1.0
    assert table.mac_of("10.0.0.5") is None  # unreadable: no evidence, no error


async def test_acceptance_ends_when_another_device_takes_the_address(tmp_path: Path) -> None:
    path = tmp_path / "arp"
    path.write_text(HEADER + arp_line("10.0.0.5", "aa:bb:cc:dd:ee:01"))
    conn = await open_db(tmp_path / "portal.sqlite3")
    try:
        now = [100.0]
        neighbours = NeighbourTable(path, max_age=1.0, clock=lambda: now[0])
        store = AcceptanceStore(lambda: conn, transactions_on(lambda: conn), 3600, neighbours)
        accepted = await store.async_accept("10.0.0.5")
        assert accepted.mac == "aa:bb:cc:dd:ee:01"
        assert store.current("10.0.0.5") == accepted
        path.write_text(HEADER + arp_line("10.0.0.5", "aa:bb:cc:dd:ee:02"))
        assert store.current("10.0.0.5") == accepted  # the table is a second old at most
        now[0] += 1.0
        assert store.current("10.0.0.5") is None  # the newcomer must accept for itself
    finally:
        await conn.close()
