"""Pairing two boxes with a short one-time code instead of typed node ids.

Box A shows a code (``meshportal peer pair --show``); box B is given it
(``meshportal peer pair CODE``) and connects to A over the sync transport.
Why a bystander on the Wi-Fi cannot hijack it:

* The code (50 random bits) never crosses the network.  Each side proves it
  knows the code with an HMAC, keyed by scrypt(code), over both Ed25519
  public keys and both nonces.  The transport handshake already proved that
  each side holds the private key of the public key it claims, and B's
  signature covers A's TLS key, so a relay in the middle would be caught.
* B proves first.  A stranger connecting to A without the code gets one
  guess (odds 2^-50) and the code is burnt on the first failure: A then
  needs a new code, and nobody got in.
* A fake A (someone answering B in A's place) gets B's HMAC and could try to
  guess the code offline; scrypt makes each guess cost ~16 MB and tens of
  milliseconds, the code expires after a few minutes and is single-use,
  and at the end both boxes display the other's node id so the admins
  compare them with ``meshportal status`` on the other box.  A real PAKE
  (SPAKE2, CPace) would remove the offline guess entirely; `cryptography`
  offers none, and this keeps us free of new dependencies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
CODE_CHARS = 10
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class PairingError(Exception):
    """Wrong, expired or used code, or a peer that failed to prove it knows it."""


def new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_CHARS))
    return raw[:5] + "-" + raw[5:]


def normalise_code(text: str) -> str:
    raw = "".join(c for c in text.upper() if c.isalnum())
    raw = raw.replace("0", "O").replace("1", "I")
    if len(raw) != CODE_CHARS or any(c not in _ALPHABET for c in raw):
        raise PairingError(
            f"{text!r} is not a pairing code (10 letters and digits, like ABCDE-FGHJK)"
        )
    return raw[:5] + "-" + raw[5:]


def code_key(code: str) -> bytes:
    raw = normalise_code(code).replace("-", "").encode()
    return hashlib.scrypt(
        raw, salt=b"meshportal-pairing-v1", dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT
    )


def proof(key: bytes, role: bytes, server_pub: bytes, client_pub: bytes, nonces: bytes) -> bytes:
    """HMAC over both keys and both nonces; ``role`` keeps the two proofs distinct."""
    return hmac.new(key, b"pair|" + role + server_pub + client_pub + nonces, "sha256").digest()


@dataclass
class Offer:
    """A code shown on this box, waiting for the other box."""

    code: str
    expires: float
    key: bytes = field(repr=False, default=b"")
    paired_with: str | None = None
    failed: bool = False

    @classmethod
    def create(cls, lifetime: float) -> Offer:
        code = new_code()
        return cls(code=code, expires=time.monotonic() + lifetime, key=code_key(code))

    @property
    def open(self) -> bool:
        return self.paired_with is None and not self.failed and time.monotonic() < self.expires

    def state(self) -> str:
        if self.paired_with:
            return "paired"
        if self.failed:
            return "failed"
        return "waiting" if time.monotonic() < self.expires else "expired"
