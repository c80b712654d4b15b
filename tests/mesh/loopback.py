"""Boxes in one process on loopback, for the mesh tests: a real SQLite file, a real TLS
sync port, no mDNS (peers are told each other's address the way `peer add` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshportal.app import library_migrations
from meshportal.blobs import BlobStore
from meshportal.identity import create_or_load
from meshportal.mesh.service import Mesh
from meshportal.replica_host import ReplicaHost
from meshportal.settings import load_settings
from meshportal.store import Database


async def open_box(
    data: Path, name: str, **flags: Any
) -> tuple[Mesh, Database, ReplicaHost, BlobStore]:
    """A box's parts, not started: the caller wires what it needs, then starts the mesh."""
    identity, _ = create_or_load(data)
    db = await Database.open(data / "box.sqlite3", library_migrations())
    host = ReplicaHost(db, identity)
    blobs = BlobStore(data / "blobs", 10_000_000)
    settings = load_settings(
        env={},
        flags={"data": str(data), "host": "127.0.0.1", "sync_port": 0, "discovery": False,
               "sync_interval": 3600, "box_name": name, **flags},
    )  # fmt: skip
    return Mesh(settings, identity, db, host=host, blobs=blobs), db, host, blobs


async def trust(mesh: Mesh, other: Mesh) -> None:
    """`mesh` trusts `other` and knows where it listens."""
    await mesh.peers.set_trust(other.identity.node_id, True)
    await mesh.peers.seen(other.identity.node_id, "", ["127.0.0.1"], other.sync_port)
    await mesh.reload_trust()
