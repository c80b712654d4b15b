"""systemd's notify protocol: readiness, watchdog pings and status lines.

A datagram to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace).  Without that variable every call does nothing, so the daemon
runs the same by hand, in tests and under systemd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = int(env.get("WATCHDOG_USEC", "0") or 0)
        watchdog_pid = env.get("WATCHDOG_PID")
        if watchdog_pid and watchdog_pid != str(os.getpid()):
            self._watchdog_usec = 0  # the watchdog is meant for another process

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval(self) -> float | None:
        """Half the watchdog period, as systemd recommends; None when off."""
        if not self.enabled or self._watchdog_usec <= 0:
            return None
        return self._watchdog_usec / 2_000_000

    def send(self, *fields: str) -> None:
        if not self._address:
            return
        with (
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock,
            contextlib.suppress(OSError),
        ):
            sock.sendto("\n".join(fields).encode(), self._address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    @contextlib.asynccontextmanager
    async def watchdog(self) -> AsyncIterator[None]:
        """Ping while the event loop is alive; a stuck loop stops the pings."""
        interval = self.watchdog_interval
        task = None
        if interval is not None:
            task = asyncio.create_task(self._ping_forever(interval))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _ping_forever(self, interval: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)
