"""Who has accepted the portal: in SQLite for restarts, in memory for every probe.

A probe storm must not become a database storm, so lookups read a dict that is
loaded at start and written through on every change.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import aiosqlite

from captive.neighbours import NeighbourTable

ConnectionProvider = Callable[[], aiosqlite.Connection]
# A write transaction on the shared writer: the daemon passes its own, which also
# serialises against every other writer of the database.
TransactionProvider = Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]


def transactions_on(connection: ConnectionProvider) -> TransactionProvider:
    """BEGIN IMMEDIATE … COMMIT on a connection no one else writes on (standalone use)."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[aiosqlite.Connection]:
        conn = connection()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()

    return transaction


@dataclass(frozen=True)
class Acceptance:
    ip: str
    mac: str | None
    accepted_at: float
    expires_at: float


class AcceptanceStore:
    def __init__(
        self,
        connection: ConnectionProvider,
        transaction: TransactionProvider,
        lifetime: float,
        neighbours: NeighbourTable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._connection = connection
        self._transaction = transaction
        self.lifetime = lifetime
        self._neighbours = neighbours or NeighbourTable()
        self._clock = clock
        self._by_ip: dict[str, Acceptance] = {}

    async def async_load(self) -> None:
        now = self._clock()
        async with self._connection().execute(
            "SELECT ip, mac, accepted_at, expires_at FROM captive_acceptances WHERE expires_at > ?",
            (now,),
        ) as cursor:
            rows = await cursor.fetchall()
        self._by_ip = {row[0]: Acceptance(row[0], row[1], row[2], row[3]) for row in rows}

    def current(self, ip: str) -> Acceptance | None:
        """The client's acceptance if it still holds: not expired, and no other device
        (another MAC) now on that address."""
        found = self._by_ip.get(ip)
        if found is None:
            return None
        if found.expires_at <= self._clock():
            return None
        if found.mac is not None:
            seen = self._neighbours.mac_of(ip)
            if seen is not None and seen != found.mac:
                return None
        return found

    async def async_accept(self, ip: str) -> Acceptance:
        now = self._clock()
        mac = self._neighbours.mac_of(ip, fresh=True)
        record = Acceptance(ip, mac, now, now + self.lifetime)
        # One transaction: the purge of expired rows rides along with the write, so an
        # idle box needs no periodic clean-up task.
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM captive_acceptances WHERE expires_at <= ?", (now,))
            await conn.execute(
                "INSERT INTO captive_acceptances (ip, mac, accepted_at, expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac,"
                " accepted_at = excluded.accepted_at, expires_at = excluded.expires_at",
                (record.ip, record.mac, record.accepted_at, record.expires_at),
            )
        self._by_ip = {k: v for k, v in self._by_ip.items() if v.expires_at > now}
        self._by_ip[ip] = record
        return record

    def seconds_remaining(self, acceptance: Acceptance) -> int:
        return max(0, int(acceptance.expires_at - self._clock()))

    def count_current(self) -> int:
        now = self._clock()
        return sum(1 for a in self._by_ip.values() if a.expires_at > now)
