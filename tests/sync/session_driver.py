"""Drive two SyncSessions against each other in memory, the way a socket would, counting
flights (one direction change = one flight) and bytes.  Used by the protocol tests and the
benchmark; the transport seam is ours, so no socket is needed to test the message logic."""

from __future__ import annotations

from collections.abc import Callable

from sync.protocol import ReceivedBatch, SyncSession

Apply = Callable[[ReceivedBatch], None]


class Exchange:
    def __init__(self) -> None:
        self.flights = 0
        self.bytes = 0

    @property
    def round_trips(self) -> float:
        return self.flights / 2


def run_sessions(
    a: SyncSession,
    b: SyncSession,
    apply_a: Apply,
    apply_b: Apply,
    max_flights: int = 10_000,
    cut_after_bytes: int | None = None,
) -> Exchange:
    """Ping-pong until both finish.  Each side applies (then acknowledges) what it receives.

    `cut_after_bytes` simulates a dropped connection once that many bytes have moved.
    """
    exchange = Exchange()
    sides = [(a, apply_a), (b, apply_b)]
    turn = 0
    while not (a.finished and b.finished):
        sender, _ = sides[turn]
        receiver, apply = sides[1 - turn]
        data = sender.data_to_send()
        if data:
            if cut_after_bytes is not None and exchange.bytes + len(data) > cut_after_bytes:
                data = data[: max(cut_after_bytes - exchange.bytes, 0)]
                receiver.receive_data(data)
                exchange.bytes += len(data)
                receiver.connection_lost()
                sender.connection_lost()
                return exchange
            exchange.flights += 1
            exchange.bytes += len(data)
            for batch in receiver.receive_data(data):
                apply(batch)
                receiver.acknowledge(batch.number)
        elif not receiver.has_data:
            raise AssertionError("deadlock: neither side has anything to send")
        turn = 1 - turn
        if exchange.flights > max_flights:
            raise AssertionError("sessions did not finish")
    return exchange
