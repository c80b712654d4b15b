"""Small defences: CSRF tokens that need no cookie, and a per-client rate limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

_TOKEN_WINDOW = 3600.0  # seconds a form stays valid (two windows are accepted)


class FormTokens:
    """HMAC(secret, client address, hour): the iOS sign-in sheet keeps no cookies, so
    the token rides in a hidden field and is checked against the client's address."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def _token(self, ip: str, window: int) -> str:
        mac = hmac.new(self._secret, f"{ip}|{window}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode("ascii")

    def issue(self, ip: str) -> str:
        return self._token(ip, int(self._clock() // _TOKEN_WINDOW))

    def check(self, ip: str, token: str) -> bool:
        window = int(self._clock() // _TOKEN_WINDOW)
        return any(hmac.compare_digest(self._token(ip, w), token) for w in (window, window - 1))


class RateLimiter:
    """A token bucket per client.  Memory stays bounded: the oldest buckets go first."""

    def __init__(
        self,
        rate: float,
        burst: float,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, last time)

    def allow(self, ip: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.pop(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= self._max_clients:
            del self._buckets[next(iter(self._buckets))]  # dicts keep insertion order
        self._buckets[ip] = (tokens, now)  # re-inserted last: most recently seen
        return allowed
