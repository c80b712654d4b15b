"""When the engine's long loops let an event loop serve others.

Applying a peer's 1 MiB batch, replaying changes at load and encoding thousands of
document states each take most of a second here, several on a Pi.  The loops that do it
ask a `Pace` after each unit of work (a change, a state) and pause when one slice has
passed; the asyncio side (sync/store.py) awaits at each pause, so a visitor's page waits
one slice at most.
"""

from __future__ import annotations

import math
import time

__all__ = ["NEVER", "SLICE_S", "Pace"]

SLICE_S = 0.02  # the longest run between two pauses
NEVER = math.inf  # a slice that never ends: the synchronous callers'


class Pace:
    __slots__ = ("deadline", "slice_s")

    def __init__(self, slice_s: float | None = None) -> None:
        self.slice_s = SLICE_S if slice_s is None else slice_s
        self.deadline = time.monotonic() + self.slice_s

    def due(self) -> bool:
        """True when this slice is over (and the next one starts): time to pause."""
        now = time.monotonic()
        if now <= self.deadline:
            return False
        self.deadline = now + self.slice_s
        return True
