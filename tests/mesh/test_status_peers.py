"""`meshportal status` shows each peer on one line, in French and English."""

from __future__ import annotations

from meshportal.status import _LABELS, format_peer, format_report

PEER = {
    "node_id": "CNRKXOZT-7ASOBZXI-NBMSYIFT-T5CHFEMJ",
    "name": "ecole",
    "addresses": ["10.0.0.2"],
    "sync_port": 7717,
    "last_seen": 1000.0,
    "trusted": True,
    "revoked": False,
    "last_sync": 940.0,
    "behind": 3,
    "ahead": 0,
    "bytes_in": 2048,
    "bytes_out": 10,
    "last_error": "cannot reach 10.0.0.2:7717",
}


def test_a_peer_line_says_everything_an_admin_checks() -> None:
    line = format_peer(PEER, _LABELS["en"], now=1010.0)
    assert line.startswith("ecole CNRKXOZT-7ASOBZXI-NBMSYIFT-T5CHFEMJ (trusted)")
    for part in ("10.0.0.2 :7717", "seen 0 min 10 s", "synced 1 min 10 s", "behind/ahead 3/0",
                 "↓2.0 KB ↑10 B", "error: cannot reach"):  # fmt: skip
        assert part in line
    never = format_peer({**PEER, "trusted": False, "last_sync": None, "behind": None},
                        _LABELS["fr"], now=1010.0)  # fmt: skip
    assert (
        "NON approuvée" in never and "synchro il y a jamais" in never and "retard/avance -" in never
    )
    blocked = format_peer({**PEER, "blocked": "sent forged changes"}, _LABELS["en"])
    assert "(blocked)" in blocked


def test_the_report_lists_peers_one_per_row() -> None:
    report = {
        "running": True, "version": "0", "pid": 1, "uptime_seconds": 5, "node_id": "X",
        "data_dir": "/d", "database_bytes": 1, "free_disk_bytes": 1, "internet": False,
        "sections": {"mesh": {"digest": "ab", "peers": [PEER, {**PEER, "name": "mairie"}]}},
    }  # fmt: skip
    text = format_report(report, "en")
    assert any(row.strip().startswith("mesh.peers") and "ecole" in row for row in text.split("\n"))
    assert text.count("CNRKXOZT-7ASOBZXI-NBMSYIFT-T5CHFEMJ") == 2 and "mairie" in text
