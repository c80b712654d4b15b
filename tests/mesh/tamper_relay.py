"""A dishonest relay, for the namespace tests: it offers another box's changes, altered.

    python -m tests.mesh.tamper_relay DATA HOST PORT NODE_ID SEGMENTS_FILE

It holds its own identity (trusted by the target, so it gets past the transport), runs
the real conversation code, but its replica offers the segments of SEGMENTS_FILE (a
msgpack list of another box's genuine segments) with their text altered and the
signature left as it was.  It prints one JSON line per connection attempt.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import msgpack

from meshportal.identity import create_or_load
from meshportal.mesh import transport
from meshportal.mesh.link import Conversation
from sync.change import VersionVector
from sync.identity import Identity as SyncIdentity
from sync.ingest import IngestResult
from sync.replica import Replica


def tamper(raw: bytes) -> bytes:
    """Change the words of the segment (codec 0: plain msgpack body), keep the signature."""
    envelope = msgpack.unpackb(raw)
    body: bytes = envelope[8]
    # same length: the envelope stays well formed, only the words change
    changed = body.replace(b" A", b" T") if b" A" in body else body[:-1] + bytes([body[-1] ^ 1])
    envelope[8] = changed
    return bytes(msgpack.packb(envelope))


class TamperedReplica(Replica):
    def __init__(self, identity: SyncIdentity, offered: list[bytes]) -> None:
        super().__init__(identity)
        self.offered = offered

    def changes_since(self, vv: VersionVector) -> list[bytes]:
        return self.offered


class Host:
    """What Conversation needs of a ReplicaHost, in memory."""

    def __init__(self, replica: Replica) -> None:
        self._replica = replica

    async def replica(self) -> Replica:
        return self._replica

    async def apply(self, raws: list[bytes]) -> IngestResult:
        return self._replica.apply_segments(raws)


async def main(argv: list[str]) -> None:
    data, host, port, node_id, segments_file = argv
    identity, _ = create_or_load(Path(data))
    endpoint = transport.Endpoint.for_data_dir(Path(data), identity)
    genuine = msgpack.unpackb(Path(segments_file).read_bytes())
    replica = TamperedReplica(SyncIdentity(identity.private_key()), [tamper(s) for s in genuine])
    for attempt in (1, 2):
        report: dict[str, Any] = {"attempt": attempt}
        try:
            _id, session = await transport.async_connect(endpoint, host, int(port), node_id)
        except transport.TransportError as exc:
            report["refused"] = str(exc)
        else:
            assert session is not None
            conversation = Conversation(
                session, Host(replica), None, initiator=True, is_revoked=lambda _n: False
            )  # type: ignore[arg-type]
            result = await conversation.run()
            await session.close()
            report.update(error=result.error, applied=result.applied, bytes_in=result.bytes_in)
        print(json.dumps(report), flush=True)
        await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
