"""Received content packs this box no longer serves, and why: the table and its SQL.

A row names a pack taken from another box that was withdrawn:

* ``removed``: the admin ran `meshportal pack remove NAME`.  The row is the refusal:
  no version of that name is installed again, from any publisher, until the admin
  runs `meshportal pack accept NAME` (which deletes the row).  A per-name refusal in
  the database, not an edit of ``packs_accept``: the settings file belongs to the admin
  (and often to a configuration tool), the daemon never rewrites it, and a ``*`` there
  must keep meaning "every pack but the ones I removed".
* ``untrusted``: the box that signed it is no longer trusted (revoked, or blocked for
  forged changes).  The row only records what happened, for `pack list`; the archive
  stays in the blob store (never offered to peers), so trusting the publisher again
  re-installs the pack at the next pass without the network, and the row goes.

The row is written before the pack's folder leaves ``DATA/packs``: it is the decision,
and the folder follows it at every pass (at start, after each catalog change and each
change of trust), so a power cut between the two is finished at the next pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from meshportal.store import Database

__all__ = ["MIGRATIONS", "REMOVED", "UNTRUSTED", "Withdrawal", "WithdrawalTable", "removal"]

REMOVED = "removed"
UNTRUSTED = "untrusted"

MIGRATIONS: list[str] = [
    """
    CREATE TABLE pack_withdrawals (
        name TEXT PRIMARY KEY,
        reason TEXT NOT NULL CHECK (reason IN ('removed', 'untrusted')),
        version TEXT NOT NULL DEFAULT '',
        digest TEXT NOT NULL DEFAULT '',
        publisher TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    """,
]


@dataclass(frozen=True)
class Withdrawal:
    name: str
    reason: str  # REMOVED or UNTRUSTED
    version: str = ""
    digest: str = ""  # the archive, to withhold from peers and to re-install from
    publisher: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def removal(name: str, meta: dict[str, Any] | None, known: Withdrawal | None) -> Withdrawal:
    """The admin's removal of ``name``: what is installed (its index entry ``meta``), or
    else what was withdrawn before."""
    if meta is not None:
        return Withdrawal(name, REMOVED, str(meta.get("version", "")), str(meta.get("hash", "")),
                          str(meta.get("publisher", "")))  # fmt: skip
    if known is not None:
        return Withdrawal(name, REMOVED, known.version, known.digest, known.publisher)
    return Withdrawal(name, REMOVED)


class WithdrawalTable:
    """All SQL about withdrawn packs; borrows the daemon's database (its one writer)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> dict[str, Withdrawal]:
        async with self.db.reader.execute(
            "SELECT name, reason, version, digest, publisher FROM pack_withdrawals"
        ) as cur:
            return {r[0]: Withdrawal(*r) for r in await cur.fetchall()}

    async def record(self, item: Withdrawal) -> None:
        """Write the row; a removal by the admin is never turned back into ``untrusted``."""
        await self.db.write_many(
            "INSERT INTO pack_withdrawals (name, reason, version, digest, publisher, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " reason = excluded.reason, version = excluded.version, digest = excluded.digest,"
            " publisher = excluded.publisher, at = excluded.at"
            " WHERE excluded.reason = 'removed' OR pack_withdrawals.reason != 'removed'",
            [(item.name, item.reason, item.version, item.digest, item.publisher, time.time())],
        )

    async def forget(self, name: str, reason: str) -> bool:
        """Delete the row if it has that reason; True when there was one."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM pack_withdrawals WHERE name = ? AND reason = ?", (name, reason)
            )
            return cur.rowcount > 0
