"""`meshportal peer …` as an admin runs it: daemon stopped (store) and running (socket)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshportal.identity import node_id_from_public_key
from tests.conftest import Daemon, free_port, run_cli, start_daemon

OTHER = node_id_from_public_key(b"o" * 32)


def _init(data: Path) -> str:
    result = run_cli("init", "--data", str(data))
    assert result.returncode == 0, result.stderr
    return result.stdout.split("node id:")[1].strip()


def test_trust_with_the_daemon_stopped_is_saved_for_its_start(data_dir: Path) -> None:
    _init(data_dir)
    result = run_cli("peer", "trust", OTHER.lower(), "--data", str(data_dir), LANG="en_GB")
    assert result.returncode == 0, result.stderr
    assert "takes effect at next start" in result.stdout and OTHER in result.stdout
    listed = json.loads(run_cli("peer", "list", "--json", "--data", str(data_dir)).stdout)
    assert [(p["node_id"], p["trusted"]) for p in listed] == [(OTHER, True)]


def test_bad_input_gets_a_plain_error_and_changes_nothing(data_dir: Path) -> None:
    own = _init(data_dir)
    bad = run_cli("peer", "trust", "ABCD-EFGH", "--data", str(data_dir))
    assert bad.returncode == 2 and "not a valid node id" in bad.stderr
    typo = OTHER[:-1] + ("A" if OTHER[-1] != "A" else "B")
    assert run_cli("peer", "trust", typo, "--data", str(data_dir)).returncode == 2
    itself = run_cli("peer", "trust", own, "--data", str(data_dir))
    assert itself.returncode == 2 and "own node id" in itself.stderr
    port = run_cli("peer", "add", "host:99999", "--data", str(data_dir))
    assert port.returncode == 2 and "port" in port.stderr
    assert json.loads(run_cli("peer", "list", "--json", "--data", str(data_dir)).stdout) == []


def test_pairing_needs_the_daemon(data_dir: Path) -> None:
    _init(data_dir)
    result = run_cli("peer", "pair", "--show", "--data", str(data_dir), LANG="en_GB")
    assert result.returncode == 3 and "not running" in result.stderr
    neither = run_cli("peer", "pair", "--data", str(data_dir))
    assert neither.returncode == 2


def _stop(daemon: Daemon) -> None:
    daemon.stop()
    if daemon.process.stdout:
        daemon.process.stdout.close()


def test_with_the_daemon_running_commands_go_through_its_socket(tmp_path: Path) -> None:
    data, other_data = tmp_path / "data", tmp_path / "other"
    sync_port, other_port = free_port(), free_port()
    daemon = start_daemon(data, None, "--sync-port", str(sync_port))
    other = start_daemon(other_data, None, "--sync-port", str(other_port))
    try:
        trust = run_cli("peer", "trust", OTHER, "--data", str(data), LANG="en_GB")
        assert trust.returncode == 0 and "next start" not in trust.stdout
        untrust = run_cli("peer", "untrust", OTHER, "--data", str(data), LANG="en_GB")
        assert untrust.returncode == 0 and "revoked" in untrust.stdout
        # A box added by hand: its node id is read from its certificate.
        other_id = json.loads(run_cli("status", "--json", "--data", str(other_data)).stdout)[
            "node_id"
        ]
        added = run_cli("peer", "add", f"127.0.0.1:{other_port}", "--data", str(data))
        assert added.returncode == 0, added.stderr
        assert other_id in added.stdout
        status = json.loads(run_cli("status", "--json", "--data", str(data)).stdout)
        mesh = status["sections"]["mesh"]
        assert mesh["sync_port"] == sync_port and mesh["discovery"] == "off"
        rows = {p["node_id"]: p for p in mesh["peers"]}
        assert rows[OTHER]["revoked"] and not rows[OTHER]["trusted"]
        assert rows[other_id]["addresses"] == ["127.0.0.1"] and not rows[other_id]["trusted"]
        text = run_cli("status", "--data", str(data)).stdout
        assert OTHER in text and other_id in text
        code = run_cli("peer", "pair", "ABCDE-FGHJK", "--data", str(data))
        assert code.returncode == 2 and "no box showing a code" in code.stderr
    finally:
        _stop(daemon)
        _stop(other)


async def test_revoking_a_peer_cuts_its_open_session(tmp_path: Path) -> None:
    """A trusted box talks to the daemon's sync port; `peer untrust` ends it at once."""
    import asyncio

    from meshportal.identity import create_or_load
    from meshportal.mesh import framing, transport

    data, peer_dir = tmp_path / "data", tmp_path / "peer"
    peer_dir.mkdir()
    peer = transport.Endpoint.for_data_dir(peer_dir, create_or_load(peer_dir)[0])
    sync_port = free_port()
    daemon = start_daemon(data, None, "--sync-port", str(sync_port))
    try:
        own = json.loads(run_cli("status", "--json", "--data", str(data)).stdout)["node_id"]
        stranger = tmp_path / "stranger"
        stranger.mkdir()
        outsider = transport.Endpoint.for_data_dir(stranger, create_or_load(stranger)[0])
        with pytest.raises(transport.Refused):
            await transport.async_connect(outsider, "127.0.0.1", sync_port, own)
        assert run_cli("peer", "trust", peer.identity.node_id, "--data", str(data)).returncode == 0
        _, session = await transport.async_connect(peer, "127.0.0.1", sync_port, own)
        assert session is not None and session.scope == "trusted"
        await session.send({"t": "ping"})
        assert await session.receive() == {"t": "pong"}
        untrust = await asyncio.to_thread(
            run_cli, "peer", "untrust", peer.identity.node_id, "--data", str(data)
        )
        assert untrust.returncode == 0
        with pytest.raises((framing.FrameError, ConnectionError)):
            await session.send({"t": "ping"})
            await asyncio.wait_for(session.receive(), 5)
        await session.close()
        with pytest.raises(transport.Refused):
            await transport.async_connect(peer, "127.0.0.1", sync_port, own)
        listed = {p["node_id"]: p for p in json.loads(
            run_cli("peer", "list", "--json", "--data", str(data)).stdout)}  # fmt: skip
        assert listed[peer.identity.node_id]["bytes_in"] > 0
    finally:
        _stop(daemon)
