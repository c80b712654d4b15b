"""Two stored replicas syncing over a real loopback TCP connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sync.protocol import SyncSession
from sync.replica import Replica
from sync.store import SyncStore
from tests.sync.replicas import identity, open_store, snapshot


async def drive(
    session: SyncSession,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    store: SyncStore,
    replica: Replica,
) -> None:
    """The thin I/O adapter a daemon would write: bytes in, durable apply, ACK, bytes out."""
    try:
        writer.write(session.data_to_send())
        await writer.drain()
        while not session.finished:
            data = await asyncio.wait_for(reader.read(1 << 16), timeout=10)
            if not data:
                session.connection_lost()
                break
            for batch in session.receive_data(data):
                await store.async_apply(replica, batch.segments)
                session.acknowledge(batch.number)
            writer.write(session.data_to_send())
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_two_boxes_sync_over_loopback(tmp_path: Path) -> None:
    async with open_store(tmp_path / "a.db") as store_a, open_store(tmp_path / "b.db") as store_b:
        a = await store_a.async_load(identity(1), seal_every=64)
        b = await store_b.async_load(identity(2), seal_every=64)
        for i in range(500):
            a.insert_text("accueil", i, "à")
            if i % 5 == 0:
                b.set_key("catalogue", f"leçon-{i}", {"titre": f"Leçon {i} ✓"})
        b.add_element("tags", "forêt 🌲")
        await store_a.async_commit(a)
        await store_b.async_commit(b)

        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            session = SyncSession(b, b.node_id, initiator=False, window=2, batch_bytes=4096)
            await drive(session, reader, writer, store_b, b)
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            session = SyncSession(a, a.node_id, initiator=True, window=2, batch_bytes=4096)
            await drive(session, reader, writer, store_a, a)
            await asyncio.wait_for(done.wait(), timeout=10)
        assert session.failed is None
        assert snapshot(a) == snapshot(b)
        assert a.text("accueil") == "à" * 500
        reloaded = await store_b.async_load(identity(2))
        assert snapshot(reloaded) == snapshot(a)
