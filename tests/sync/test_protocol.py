"""The sync session driven over an in-memory byte pipe (the transport seam is ours)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.errors import IncompatibleVersion, MalformedInput, ProtocolError, TooLarge
from sync.frames import ACK, BATCH, DONE, HELLO, MORE, VV, encode_frame
from sync.protocol import CAP_EAGER_VV, CAP_MORE, ReceivedBatch, SyncSession, vv_digest
from sync.replica import Replica
from tests.sync.replicas import identity, open_store, replica, snapshot, sync_pair
from tests.sync.session_driver import run_sessions


def session(r: Replica, initiator: bool, **options: int) -> SyncSession:
    return SyncSession(r, r.node_id, initiator=initiator, **options)  # type: ignore[arg-type]


def applier(r: Replica) -> Callable[[ReceivedBatch], None]:
    def apply(batch: ReceivedBatch) -> None:
        r.apply_segments(batch.segments)

    return apply


def sync_over_protocol(a: Replica, b: Replica, **options: int) -> tuple[int, int]:
    a.seal()
    b.seal()
    sa, sb = session(a, True, **options), session(b, False, **options)
    exchange = run_sessions(sa, sb, applier(a), applier(b))
    return exchange.flights, exchange.bytes


def shared_history(n: int) -> tuple[Replica, Replica]:
    a, b = replica(1), replica(2)
    for i in range(n):
        (a if i % 2 else b).insert_text("page", 0, "é")
    sync_pair(a, b)
    return a, b


def test_peers_in_sync_stop_after_one_exchange() -> None:
    a, b = shared_history(50)
    flights, sent = sync_over_protocol(a, b)
    # two HELLOs of 35 bytes and the initiator's eager VV of two 16-byte origin keys
    assert flights == 2 and sent <= 160


def test_hello_announces_the_node_id_only_when_asked() -> None:
    a, b = replica(1), replica(2)
    quiet, loud = session(a, True), SyncSession(b, b.node_id, initiator=True, announce_id=True)
    listener = session(b, False)
    listener.receive_data(quiet.data_to_send())
    assert listener.peer_id is None
    listener = session(a, False)
    listener.receive_data(loud.data_to_send())
    assert listener.peer_id == b.node_id


@pytest.mark.parametrize("writer", ["initiator", "responder"])
def test_one_new_change_costs_two_round_trips_and_few_bytes(writer: str) -> None:
    a, b = shared_history(2000)
    (a if writer == "initiator" else b).insert_text("page", 0, "neuf ")
    flights, sent = sync_over_protocol(a, b)
    assert flights <= 4 and sent <= 2048
    assert snapshot(a) == snapshot(b)


def test_large_bidirectional_sync_in_bounded_batches_with_back_pressure() -> None:
    a, b = replica(1, seal_every=16), replica(2, seal_every=16)
    for i in range(400):
        a.insert_text("p", i, "a")
        b.set_key("m", f"k{i}", i)
    batches: list[int] = []
    sa = session(a, True, window=2, batch_bytes=2048)
    sb = session(b, False, window=2, batch_bytes=2048)

    def apply_b(batch: ReceivedBatch) -> None:
        batches.append(len(batch.segments))
        b.apply_segments(batch.segments)

    run_sessions(sa, sb, applier(a), apply_b)
    assert len(batches) > 3
    assert snapshot(a) == snapshot(b) and a.version_vector() == b.version_vector()


def test_a_segment_above_the_batch_target_goes_alone_in_its_batch() -> None:
    """batch_bytes is a target, not the frame limit: a bigger segment (slow edits make
    bigger segments, timestamps being delta-encoded) is sent alone, not refused."""
    a, b = replica(1, seal_every=64), replica(2)
    noise = random.Random(7)  # incompressible values: the segment body is zlib-compressed
    for i in range(60):
        a.set_key("m", f"clé {i}", "".join(noise.choice("aeéiouçxyz") for _ in range(40)))
    a.seal()
    big = max(len(s) for s in a.changes_since({}))
    assert big > 1024
    sizes: list[list[int]] = []
    sa = session(a, True, window=1, batch_bytes=1024)
    sb = session(b, False, window=1, batch_bytes=1024)

    def apply_b(batch: ReceivedBatch) -> None:
        sizes.append([len(s) for s in batch.segments])
        b.apply_segments(batch.segments)

    run_sessions(sa, sb, applier(a), apply_b)
    assert [big] in sizes
    assert snapshot(a) == snapshot(b)


async def test_interrupted_sync_resumes_without_resending_acknowledged_batches(
    tmp_path: Path,
) -> None:
    a = replica(1, seal_every=8)
    for i in range(200):
        a.insert_text("p", i, "x")
    a.seal()
    async with open_store(tmp_path / "b.db") as store:
        b = await store.async_load(identity(2))
        received: list[bytes] = []
        duplicates = 0

        def apply_durably(batch: ReceivedBatch) -> None:
            nonlocal duplicates
            received.extend(batch.segments)
            duplicates += b.apply_segments(batch.segments).duplicates

        sa = session(a, True, window=1, batch_bytes=1024)
        sb = session(b, False, window=1, batch_bytes=1024)
        exchange = run_sessions(sa, sb, applier(a), apply_durably, cut_after_bytes=3000)
        assert exchange.bytes == 3000 and sb.failed is not None
        await store.async_commit(b)  # what was acknowledged is durable
        first_part = len(received)
        assert 0 < b.version_vector()[a.node_id] < 200
        b = await store.async_load(identity(2))  # as after a restart
        sa = session(a, True, window=1, batch_bytes=1024)
        sb = session(b, False, window=1, batch_bytes=1024)
        run_sessions(sa, sb, applier(a), apply_durably)
        assert duplicates == 0
        assert len(received) == len(a.changes_since({})) and first_part < len(received)
        assert b.text("p") == "x" * 200


def segments_of(author: Replica, count: int) -> list[bytes]:
    """`count` changes by `author`, one segment each (seqs 1..count)."""
    for i in range(count):
        author.insert_text("p", i, "abcdefgh"[i])
        author.seal()
    segments = author.changes_since({})
    assert len(segments) == count
    return segments


@pytest.mark.parametrize("early_side", ["initiator", "responder"])
def test_an_early_arrival_linked_mid_session_reaches_the_peer_in_the_same_session(
    early_side: str,
) -> None:
    """Box a holds x's seq 2 as an early arrival, box b holds seq 1: the session brings 1
    to a, which then applies 1 and 2, and sends 2 on (after its DONE: MORE) before the
    session ends."""
    x, a, b = replica(1), replica(2), replica(3)
    first, second = segments_of(x, 2)
    assert a.apply_segments([second]).waiting == 1 and a.version_vector() == {}
    b.apply_segments([first])
    b.insert_text("q", 0, "b")  # so each side has something the other lacks
    a.insert_text("q", 0, "a")
    initiator, responder = (a, b) if early_side == "initiator" else (b, a)
    sync_over_protocol(initiator, responder)
    assert a.text("p") == b.text("p") == "ab"
    assert snapshot(a) == snapshot(b) and a.version_vector() == b.version_vector()


def test_follow_ups_chain_until_neither_side_has_anything_new() -> None:
    """Each follow-up links an early arrival on the other side: a takes seq 1 from b and
    links 2, b takes 2 and links 3, a takes 3 and links 4, within one session."""
    x, a, b = replica(1), replica(2), replica(3)
    s1, s2, s3, s4 = segments_of(x, 4)
    a.apply_segments([s2, s4])
    b.apply_segments([s1, s3])
    sa, sb = session(a, True, window=1), session(b, False, window=1)
    run_sessions(sa, sb, applier(a), applier(b))
    assert a.text("p") == b.text("p") == "abcd"
    assert a.version_vector() == b.version_vector() == {x.node_id: 4}
    assert sa.finished and sb.finished and sa.failed is None and sb.failed is None


@pytest.mark.parametrize("old_side", ["initiator", "responder"])
def test_a_peer_without_more_gets_no_batch_after_our_done(old_side: str) -> None:
    """An older peer (no MORE bit) takes no batch once our DONE left: the session still
    ends cleanly and the next one brings the rest.  A DONE not sent yet is withdrawn, so
    a change linked in the same turn reaches even an older peer."""
    x, a, b = replica(1), replica(2), replica(3)
    first, second = segments_of(x, 2)
    a.apply_segments([second])  # a: the new side, holding seq 2 early
    b.apply_segments([first])
    new = session(a, old_side == "responder")
    old = session(b, old_side == "initiator", capabilities=CAP_EAGER_VV)
    sessions = (old, new) if old_side == "initiator" else (new, old)
    appliers = (applier(b), applier(a)) if old_side == "initiator" else (applier(a), applier(b))
    run_sessions(*sessions, *appliers)
    assert new.failed is None and old.failed is None
    assert a.version_vector() == {x.node_id: 2}
    if old_side == "initiator":  # a's DONE went with its HELLO, before seq 1 came
        assert b.version_vector() == {x.node_id: 1}
        sync_over_protocol(a, b)
    assert b.version_vector() == {x.node_id: 2} and b.text("p") == "ab"


def test_incompatible_versions_refuse_clearly() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "x")
    old = SyncSession(a, a.node_id, initiator=True, versions=(1, 1))
    new = session(b, False)
    with pytest.raises(IncompatibleVersion, match=r"1\.\.1"):
        new.receive_data(old.data_to_send())
    with pytest.raises(ProtocolError, match="IncompatibleVersion"):
        old.receive_data(new.data_to_send())


def test_mixed_versions_agree_on_the_highest_common() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "x")
    a.seal()
    newer = SyncSession(a, a.node_id, initiator=True, versions=(1, 5), capabilities=0xFF)
    older = session(b, False)
    run_sessions(newer, older, applier(a), applier(b))
    assert newer.version == older.version == 2
    assert b.text("p") == "x"


def hello(r: Replica, capabilities: int = 0) -> bytes:
    digest = vv_digest(r.version_vector())
    return encode_frame([HELLO, 2, 2, capabilities, "", 1 << 20, 1, digest])


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        (lambda r: encode_frame([VV, {}]), ProtocolError),  # no HELLO first
        (lambda r: b"\x00\x00\x00\x03\xc1\xc1\xc1", MalformedInput),
        (lambda r: b"\xff\xff\xff\xff", TooLarge),
        (lambda r: hello(r) + hello(r), ProtocolError),
        (lambda r: hello(r) + encode_frame([ACK, 7]), ProtocolError),
        (lambda r: hello(r) + encode_frame([BATCH, 2, []]), ProtocolError),
        (lambda r: hello(r) + encode_frame([BATCH, 1, ["str"]]), MalformedInput),
        (
            lambda r: hello(r) + encode_frame([BATCH, 1, []]) + encode_frame([BATCH, 2, []]),
            ProtocolError,
        ),  # window of 1 overrun
        (lambda r: hello(r) + encode_frame([VV, {b"x" * 16: -1}]), MalformedInput),
        (lambda r: hello(r) + encode_frame([VV, {r.node_id: 1}]), MalformedInput),  # v1 VV
        (lambda r: hello(r) + encode_frame([9]), MalformedInput),
        (lambda r: hello(r) + encode_frame([DONE]) + encode_frame([MORE]), ProtocolError),
        (lambda r: hello(r, CAP_MORE) + encode_frame([MORE]), ProtocolError),  # before DONE
        (lambda r: encode_frame([HELLO, 2, 2, 0, "x", 1 << 20, 0, b"0" * 16]), ProtocolError),
    ],
)
def test_broken_peers_get_a_specific_error_and_an_error_frame(frames, error) -> None:  # type: ignore[no-untyped-def]
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "x")
    s = session(a, False, window=1)
    with pytest.raises(error):
        s.receive_data(frames(b))
    assert s.finished and s.failed is not None
    with pytest.raises(ProtocolError, match=error.__name__):
        session(b, True).receive_data(s.data_to_send())


def test_truncated_stream_is_reported() -> None:
    a, b = replica(1), replica(2)
    s = session(a, False)
    s.receive_data(hello(b)[:-3])
    s.connection_lost()
    assert isinstance(s.failed, ProtocolError)
