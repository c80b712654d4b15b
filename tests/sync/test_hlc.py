import pytest

from sync.errors import ClockSkew
from sync.hlc import LOGICAL_BITS, HybridClock, hlc_ms


class FakeWall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_is_strictly_monotonic_even_when_wall_stalls_or_goes_back() -> None:
    wall = FakeWall(1_000)
    clock = HybridClock(wall)
    seen = [clock.now() for _ in range(5)]
    wall.ms = 500  # NTP stepped the clock back
    seen += [clock.now() for _ in range(5)]
    assert seen == sorted(set(seen))
    assert hlc_ms(seen[0]) == 1_000
    wall.ms = 2_000
    assert clock.now() == 2_000 << LOGICAL_BITS


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = HybridClock(FakeWall(10), last=(10 << LOGICAL_BITS) | 0xFFFF)
    assert clock.now() == 11 << LOGICAL_BITS


def test_observe_moves_past_remote_time() -> None:
    wall = FakeWall(1_000)
    clock = HybridClock(wall)
    remote = (1_500 << LOGICAL_BITS) + 3
    clock.check(remote)
    clock.observe(remote)
    assert clock.now() == remote + 1


def test_remote_clock_hours_ahead_is_refused_without_update() -> None:
    wall = FakeWall(1_000_000)
    clock = HybridClock(wall, max_skew_ms=3_600_000)
    clock.check((1_000_000 + 3_600_000) << LOGICAL_BITS)  # exactly at the limit: fine
    with pytest.raises(ClockSkew, match="h ahead"):
        clock.check((1_000_000 + 3 * 3_600_000) << LOGICAL_BITS)
    with pytest.raises(ClockSkew):
        clock.check(1 << 64)
    assert clock.last == 0
