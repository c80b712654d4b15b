"""Content-addressed files: wiki attachments and content-pack archives, named by SHA-256.

A blob is written to a temporary file, fsynced, then renamed to its hash: a power cut
leaves either the whole blob or nothing under its name, never half a file.  The same
bytes are stored once however many pages attach them.  Peers fetch blobs by hash and
check the hash of what they received, so a blob cannot be altered in transit.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = ["BlobError", "BlobStore", "is_blob_hash"]

_HASH = re.compile(r"[0-9a-f]{64}")


class BlobError(Exception):
    """A blob that cannot be stored or read: bad hash, over budget, corrupt file."""


def is_blob_hash(text: str) -> bool:
    return _HASH.fullmatch(text) is not None


class BlobStore:
    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget_bytes = budget_bytes

    def path(self, digest: str) -> Path:
        if not is_blob_hash(digest):
            raise BlobError(f"not a SHA-256 hex digest: {digest[:80]!r}")
        # two levels keep directories small on FAT-like SD cards and slow ext4 lookups
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def used_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())

    def put(self, data: bytes, *, expected: str | None = None) -> str:
        """Store `data` and return its hash; if `expected` is given it must match."""
        digest = hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise BlobError(f"content does not match its hash {expected[:12]}…")
        target = self.path(digest)
        if target.is_file():
            return digest
        if self.used_bytes() + len(data) > self.budget_bytes:
            raise BlobError(
                f"the box's file budget ({self.budget_bytes // 1_000_000} MB) is used up"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    def read(self, digest: str) -> bytes:
        """The blob's bytes, checked against its name (a corrupt file is an error)."""
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobError(f"blob {digest[:12]}… is corrupt on disk")
        return data
