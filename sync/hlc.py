"""Hybrid logical clock packed in one 64-bit integer.

Layout: the high 48 bits hold Unix time in milliseconds, the low 16 bits a logical counter.
Because the counter sits below the milliseconds, "increment by one" is the whole HLC tick:
a counter overflow simply borrows the next millisecond, which keeps the clock monotonic and
the comparison a plain integer comparison (Kulkarni et al., "Logical Physical Clocks", 2014).

A remote timestamp further than `max_skew_ms` ahead of our wall clock is refused with
ClockSkew: accepting it would drag every later local edit into the future and let one box
with a wrong clock win every last-writer-wins register for hours.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sync.errors import ClockSkew

__all__ = ["DEFAULT_MAX_SKEW_MS", "LOGICAL_BITS", "HybridClock", "hlc_ms", "wall_ms"]

LOGICAL_BITS = 16
DEFAULT_MAX_SKEW_MS = 3_600_000  # one hour: boxes without RTC drift, but not by hours
_MAX_HLC = (1 << 64) - 1


_time_ns = time.time_ns


def wall_ms() -> int:
    return _time_ns() // 1_000_000


def hlc_ms(hlc: int) -> int:
    """The physical part (Unix milliseconds) of a packed timestamp."""
    return hlc >> LOGICAL_BITS


class HybridClock:
    __slots__ = ("_wall", "last", "max_skew_ms")

    def __init__(
        self,
        wall: Callable[[], int] = wall_ms,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        last: int = 0,
    ) -> None:
        self._wall = wall
        self.max_skew_ms = max_skew_ms
        self.last = last

    def now(self) -> int:
        """A fresh timestamp for a local event, greater than every one seen so far."""
        # called once per keystroke: skip a Python call when the wall clock is the real one
        wall = self._wall
        candidate = (_time_ns() // 1_000_000 if wall is wall_ms else wall()) << LOGICAL_BITS
        last = self.last
        self.last = candidate if candidate > last else last + 1
        return self.last

    def check(self, remote: int) -> None:
        """Raise ClockSkew if `remote` is not a timestamp we may accept.  Does not update."""
        if not 0 <= remote <= _MAX_HLC:
            raise ClockSkew(f"hybrid clock value out of 64-bit range: {remote}")
        ahead = (remote >> LOGICAL_BITS) - self._wall()
        if ahead > self.max_skew_ms:
            raise ClockSkew(
                f"remote clock is {ahead / 3_600_000:.2f} h ahead of ours "
                f"(limit {self.max_skew_ms / 3_600_000:.2f} h)"
            )

    def observe(self, remote: int) -> None:
        """Merge an accepted remote timestamp so later local events sort after it."""
        if remote > self.last:
            self.last = remote
