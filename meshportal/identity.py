"""The box's identity: an Ed25519 key pair on disk and the node id derived from it.

The node id is shown to admins so they can compare it by voice or on paper,
so it follows Syncthing's device-id shape: base32 of SHA-256 of the public
key, cut in groups, with a Luhn mod 32 check character per group so a typo
is caught before it is trusted.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshportal.durable_files import fsync_dir

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "identity.key"
PUBLIC_FILE = "identity.pub"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_GROUP = 7  # characters per group before its check character
_GROUPS = 4  # 28 base32 characters = 140 bits of the key hash


class IdentityError(Exception):
    """The key files are missing, unreadable or not ours."""


def _luhn32(chars: str) -> str:
    factor, total = 1, 0
    for ch in chars:
        addend = factor * _ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return _ALPHABET[(32 - total % 32) % 32]


def node_id_from_public_key(public_key: bytes) -> str:
    """A short, checkable id: ``ABCDEFG-HIJKLMN-…`` with a check char per group."""
    digest = base64.b32encode(hashlib.sha256(public_key).digest()).decode("ascii")
    body = digest[: _GROUP * _GROUPS]
    groups = [body[i : i + _GROUP] for i in range(0, len(body), _GROUP)]
    return "-".join(g + _luhn32(g) for g in groups)


def is_valid_node_id(text: str) -> bool:
    """True when every group's check character matches (case-insensitive)."""
    groups = text.strip().upper().split("-")
    if len(groups) != _GROUPS:
        return False
    for group in groups:
        if len(group) != _GROUP + 1 or any(c not in _ALPHABET for c in group):
            return False
        if _luhn32(group[:-1]) != group[-1]:
            return False
    return True


@dataclass(frozen=True)
class Identity:
    """The box's public identity, with its private key read only when first needed.

    `cryptography` costs about 6 MB of resident memory once imported; an idle
    box that signs nothing need not pay it, so the key is loaded lazily.
    """

    public_bytes: bytes
    key_path: Path

    @property
    def node_id(self) -> str:
        return node_id_from_public_key(self.public_bytes)

    def private_key(self) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(_read_key_bytes(self.key_path))
        if _raw_public(key) != self.public_bytes:
            raise IdentityError(f"{self.key_path} does not match {PUBLIC_FILE}")
        return key


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite an existing key, even in a race with a second init.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_or_load(data_dir: Path) -> tuple[Identity, bool]:
    """Load the identity, creating it on first use. Returns (identity, created)."""
    key_path = data_dir / KEY_FILE
    if key_path.exists():
        return load(data_dir), False
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    # The public half first: a key file without it would be a box with no id.
    public_tmp = data_dir / (PUBLIC_FILE + ".tmp")
    public_tmp.write_text(base64.b64encode(_raw_public(key)).decode() + "\n", encoding="ascii")
    os.replace(public_tmp, data_dir / PUBLIC_FILE)
    tmp = key_path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, raw)
    os.replace(tmp, key_path)  # atomic: a power cut leaves either no key or a whole one
    fsync_dir(data_dir)
    return Identity(_raw_public(key), key_path), True


def _read_key_bytes(key_path: Path) -> bytes:
    try:
        raw = key_path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(f"no identity in {key_path.parent}: run 'meshportal init'") from None
    except PermissionError:
        raise IdentityError(f"cannot read {key_path}: permission denied") from None
    if len(raw) != 32:
        raise IdentityError(f"{key_path} is not an Ed25519 key (expected 32 bytes)")
    if key_path.stat().st_mode & 0o077:
        raise IdentityError(f"{key_path} is readable by others: chmod 600 it")
    return raw


def load(data_dir: Path) -> Identity:
    """Check the key file and read the public key; the private key stays on disk."""
    key_path = data_dir / KEY_FILE
    _read_key_bytes(key_path)
    public = read_public_key(data_dir)
    if public is None:
        raise IdentityError(f"{data_dir / PUBLIC_FILE} is missing or damaged")
    return Identity(public, key_path)


def read_public_key(data_dir: Path) -> bytes | None:
    try:
        text = (data_dir / PUBLIC_FILE).read_text(encoding="ascii").strip()
        raw = base64.b64decode(text, validate=True)
    except (OSError, ValueError):
        return None
    return raw if len(raw) == 32 else None


def read_node_id(data_dir: Path) -> str | None:
    """The node id from the public file, readable without the private key."""
    public = read_public_key(data_dir)
    return node_id_from_public_key(public) if public else None
