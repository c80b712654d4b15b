"""Node identities: Ed25519 keys and Syncthing-style node ids.

A node id is derived from the raw 32-byte Ed25519 public key exactly as Syncthing derives
device ids from a certificate hash: SHA-256 of the key, RFC 4648 base32 without padding
(52 characters), split into four groups of 13 characters each followed by one Luhn mod 32
check character, then shown as eight dash-separated groups of seven.  The check characters
catch typing mistakes when an administrator copies an id by hand; the hash means an id
alone never reveals the key, so signed heads carry the public key next to the origin.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from sync.errors import BadSignature, InvalidNodeId

__all__ = [
    "NODE_ID_LENGTH",
    "Identity",
    "node_id_from_public_key",
    "parse_node_id",
    "verify_signature",
]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CODEPOINT = {c: i for i, c in enumerate(_ALPHABET)}
NODE_ID_LENGTH = 63  # 56 significant characters + 7 dashes


def _luhn32(chunk: str) -> str:
    # Syncthing's variant: factor starts at 1 on the leftmost character.  Kept identical so
    # the ids look and check like the device ids administrators already know.
    factor, total = 1, 0
    for ch in chunk:
        addend = factor * _CODEPOINT[ch]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return _ALPHABET[(32 - total % 32) % 32]


def node_id_from_public_key(raw32: bytes) -> str:
    """The canonical node id (63 characters, dashed) of a raw Ed25519 public key."""
    if len(raw32) != 32:
        raise InvalidNodeId(f"an Ed25519 public key has 32 bytes, not {len(raw32)}")
    b32 = base64.b32encode(hashlib.sha256(raw32).digest()).decode("ascii").rstrip("=")
    checked = "".join(b32[i : i + 13] + _luhn32(b32[i : i + 13]) for i in range(0, 52, 13))
    return "-".join(checked[i : i + 7] for i in range(0, 56, 7))


def parse_node_id(text: str) -> str:
    """Validate a node id typed by a person and return its canonical form.

    Accepts lower case, spaces and missing dashes; raises InvalidNodeId otherwise.
    """
    if not isinstance(text, str):
        raise InvalidNodeId("a node id is a string")
    compact = text.strip().upper().replace("-", "").replace(" ", "")
    if len(compact) != 56 or any(c not in _CODEPOINT for c in compact):
        raise InvalidNodeId(f"not a node id (56 base32 characters expected): {text[:80]!r}")
    for i in range(0, 56, 14):
        group = compact[i : i + 13]
        if _luhn32(group) != compact[i + 13]:
            raise InvalidNodeId(f"node id check character {i // 14 + 1} is wrong: {text!r}")
    return "-".join(compact[i : i + 7] for i in range(0, 56, 7))


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise BadSignature unless `signature` is `public_key`'s Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("Ed25519 signature does not verify") from exc


class Identity:
    """A replica's Ed25519 private key.  The daemon stores the key file; we only use it."""

    __slots__ = ("_key", "node_id", "public_bytes")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_bytes: bytes = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.node_id: str = node_id_from_public_key(self.public_bytes)

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw32: bytes) -> Identity:
        return cls(Ed25519PrivateKey.from_private_bytes(raw32))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Identity({self.node_id})"
