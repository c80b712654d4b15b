"""The peer table in SQLite: who was seen where, who is trusted, who is revoked.

One row per node id, however many addresses it has.  Trust is a flag on the
row; a revocation is a separate, permanent record that the sync layer
consults to reject the node's future changes (its past ones stay).
Writes happen on discovery events and admin actions only, never on a timer,
to spare the SD card.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from meshportal.identity import is_valid_node_id
from meshportal.store import Database

MIGRATIONS: list[str] = [
    """
    CREATE TABLE mesh_peers (
        node_id TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        addresses TEXT NOT NULL DEFAULT '[]',
        sync_port INTEGER,
        digest TEXT NOT NULL DEFAULT '',
        first_seen REAL,
        last_seen REAL,
        online INTEGER NOT NULL DEFAULT 0,
        trusted INTEGER NOT NULL DEFAULT 0,
        last_sync REAL,
        behind INTEGER,
        ahead INTEGER,
        bytes_in INTEGER NOT NULL DEFAULT 0,
        bytes_out INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE mesh_revocations (
        node_id TEXT PRIMARY KEY,
        at REAL NOT NULL
    );
    CREATE TABLE mesh_manual (
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        added REAL NOT NULL,
        PRIMARY KEY (host, port)
    );
    CREATE TABLE mesh_self (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # a box that sent forged changes stays blocked across restarts, until trusted again
    # (kept in memory only, a restart forgot it and took its packs again)
    """
    ALTER TABLE mesh_peers ADD COLUMN blocked TEXT NOT NULL DEFAULT '';
    """,
]

MAX_ADDRESSES = 8  # a peer announcing more is trimmed: the row must stay small


class PeerError(ValueError):
    """A bad node id or address given by the admin."""


def check_node_id(text: str) -> str:
    node_id = text.strip().upper()
    if not is_valid_node_id(node_id):
        raise PeerError(
            f"{text!r} is not a valid node id (4 groups of 8 characters, with check letters)"
        )
    return node_id


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6]:PORT``."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), text)
    elif text.count(":") == 1:
        host, raw = text.split(":")
        port = _port(raw, text)
    if not host or any(c.isspace() for c in host):
        raise PeerError(f"{text!r} is not HOST or HOST:PORT")
    return host, port


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise PeerError(f"{text!r}: the port must be a number between 1 and 65535")
    return int(raw)


@dataclass
class Peer:
    node_id: str
    name: str
    addresses: list[str]
    sync_port: int | None
    digest: str
    last_seen: float | None
    online: bool
    trusted: bool
    revoked: bool
    last_sync: float | None
    behind: int | None
    ahead: int | None
    bytes_in: int
    bytes_out: int
    last_error: str
    blocked: str = ""  # why it is blocked (it sent forged changes), "" when it is not

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PeerTable:
    """All SQL about peers; borrows the daemon's database (its one writer)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def seen(
        self, node_id: str, name: str, addresses: list[str], port: int | None, digest: str = ""
    ) -> None:
        """Record a sighting; addresses are merged, newest first, and capped."""
        now = time.time()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT addresses FROM mesh_peers WHERE node_id = ?", (node_id,)
            ) as cur:
                row = await cur.fetchone()
            old = json.loads(row[0]) if row else []
            merged = list(dict.fromkeys([*addresses, *old]))[:MAX_ADDRESSES]
            await conn.execute(
                "INSERT INTO mesh_peers (node_id, name, addresses, sync_port, digest,"
                " first_seen, last_seen, online) VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
                # a sighting without a name (a probe by address) keeps the one we know
                " ON CONFLICT(node_id) DO UPDATE"
                " SET name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END,"
                " addresses = excluded.addresses,"
                " sync_port = coalesce(excluded.sync_port, sync_port),"
                " digest = CASE WHEN excluded.digest = '' THEN digest ELSE excluded.digest END,"
                " last_seen = excluded.last_seen, online = 1",
                (node_id, name, json.dumps(merged), port, digest, now, now),
            )

    async def learn_address(self, node_id: str, host: str, port: int) -> None:
        """A signed-in peer connected and said where it listens: keep that way back to it
        when we knew none (no mDNS across the link, and only the other side added us)."""
        async with self.db.reader.execute(
            "SELECT addresses, sync_port FROM mesh_peers WHERE node_id = ?", (node_id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None or not json.loads(row[0]) or not row[1]:
            await self.seen(node_id, "", [host], port)

    async def gone(self, node_id: str) -> None:
        await self.db.write_many("UPDATE mesh_peers SET online = 0 WHERE node_id = ?", [(node_id,)])

    async def all_offline(self) -> None:
        """At start nobody is known to be online until discovery says so."""
        await self.db.write_many("UPDATE mesh_peers SET online = 0 WHERE online = 1", [()])

    async def set_trust(self, node_id: str, trusted: bool) -> None:
        """Trust (and lift any revocation) or untrust (and record the revocation)."""
        node_id = check_node_id(node_id)
        now = time.time()
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO mesh_peers (node_id, trusted) VALUES (?, ?)"
                " ON CONFLICT(node_id) DO UPDATE SET trusted = excluded.trusted",
                (node_id, int(trusted)),
            )
            if trusted:
                await conn.execute("DELETE FROM mesh_revocations WHERE node_id = ?", (node_id,))
                # the admin vouches for it again: a block for forged changes is lifted
                await conn.execute(
                    "UPDATE mesh_peers SET blocked = '' WHERE node_id = ?", (node_id,)
                )
            else:
                await conn.execute(
                    "INSERT OR IGNORE INTO mesh_revocations (node_id, at) VALUES (?, ?)",
                    (node_id, now),
                )

    async def record_session(self, node_id: str, bytes_in: int, bytes_out: int, error: str) -> None:
        """One write per session, at its end: bytes exchanged and how it ended."""
        await self.db.write_many(
            "UPDATE mesh_peers SET bytes_in = bytes_in + ?, bytes_out = bytes_out + ?,"
            " last_error = ? WHERE node_id = ?",
            [(bytes_in, bytes_out, error[:200], node_id)],
        )

    async def record_sync(
        self, node_id: str, *, synced: bool, behind: int | None, ahead: int | None,
        bytes_in: int, bytes_out: int, error: str,
    ) -> None:  # fmt: skip
        """One write per conversation: when it synced, the lag left, bytes, how it ended."""
        await self.db.write_many(
            "UPDATE mesh_peers SET bytes_in = bytes_in + ?, bytes_out = bytes_out + ?,"
            " last_error = ?, behind = coalesce(?, behind), ahead = coalesce(?, ahead),"
            " last_sync = CASE WHEN ? THEN ? ELSE last_sync END WHERE node_id = ?",
            [(bytes_in, bytes_out, error[:200], behind, ahead, int(synced), time.time(), node_id)],
        )

    async def block(self, node_id: str, why: str) -> None:
        """Block a box (it sent forged changes) until the admin trusts it again."""
        await self.db.write_many(
            "INSERT INTO mesh_peers (node_id, blocked) VALUES (?, ?)"
            " ON CONFLICT(node_id) DO UPDATE SET blocked = excluded.blocked",
            [(check_node_id(node_id), why[:200])],
        )

    async def blocked(self) -> dict[str, str]:
        """node id -> why, for every blocked box."""
        async with self.db.reader.execute(
            "SELECT node_id, blocked FROM mesh_peers WHERE blocked != ''"
        ) as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def record_error(self, node_id: str, error: str) -> None:
        await self.db.write_many(
            "UPDATE mesh_peers SET last_error = ? WHERE node_id = ?", [(error[:200], node_id)]
        )

    async def add_manual(self, host: str, port: int) -> None:
        await self.db.write_many(
            "INSERT OR IGNORE INTO mesh_manual (host, port, added) VALUES (?, ?, ?)",
            [(host, port, time.time())],
        )

    async def manual(self) -> list[tuple[str, int]]:
        async with self.db.reader.execute("SELECT host, port FROM mesh_manual") as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def trusted_ids(self) -> set[str]:
        async with self.db.reader.execute(
            "SELECT node_id FROM mesh_peers WHERE trusted = 1"
        ) as cur:
            return {r[0] for r in await cur.fetchall()}

    async def vouched_ids(self) -> set[str]:
        """The boxes Mesh.is_trusted answers yes for: trusted, neither revoked nor
        blocked (for a command run with the daemon stopped)."""
        return await self.trusted_ids() - await self.revoked_ids() - set(await self.blocked())

    async def revoked_ids(self) -> set[str]:
        async with self.db.reader.execute("SELECT node_id FROM mesh_revocations") as cur:
            return {r[0] for r in await cur.fetchall()}

    async def list(self) -> list[Peer]:
        revoked = await self.revoked_ids()
        async with self.db.reader.execute(
            "SELECT node_id, name, addresses, sync_port, digest, last_seen, online, trusted,"
            " last_sync, behind, ahead, bytes_in, bytes_out, last_error, blocked FROM mesh_peers"
            " ORDER BY trusted DESC, name, node_id"
        ) as cur:
            rows = await cur.fetchall()
        return [
            Peer(
                node_id=r[0], name=r[1], addresses=json.loads(r[2]), sync_port=r[3],
                digest=r[4], last_seen=r[5], online=bool(r[6]), trusted=bool(r[7]),
                revoked=r[0] in revoked, last_sync=r[8], behind=r[9], ahead=r[10],
                bytes_in=r[11], bytes_out=r[12], last_error=r[13], blocked=r[14],
            )
            for r in rows
        ]  # fmt: skip

    async def get_self(self, key: str) -> str | None:
        async with self.db.reader.execute(
            "SELECT value FROM mesh_self WHERE key = ?", (key,)
        ) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_self(self, key: str, value: str) -> None:
        await self.db.write_many(
            "INSERT INTO mesh_self (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(key, value)],
        )
