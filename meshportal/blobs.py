"""Content-addressed files: wiki attachments and content-pack archives, named by SHA-256.

A blob is written to a temporary file, fsynced, then renamed to its hash: a power cut
leaves either the whole blob or nothing under its name, never half a file.  The same
bytes are stored once however many pages attach them.  Peers fetch blobs by hash and
check the hash of what they received, so a blob cannot be altered in transit.

A blob fetched from a peer arrives in chunks into ``partial/<hash>``: a cut connection
keeps what arrived, and the next fetch resumes at the partial file's length.  Partial
files count against the disk budget like whole ones.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from meshportal.durable_files import fsync_dir, write_atomically

__all__ = ["BlobError", "BlobStore", "is_blob_hash"]

_HASH = re.compile(r"[0-9a-f]{64}")
_READ_CHUNK = 1 << 20


class BlobError(Exception):
    """A blob that cannot be stored or read: bad hash, over budget, corrupt file."""


def is_blob_hash(text: str) -> bool:
    return isinstance(text, str) and _HASH.fullmatch(text) is not None


class BlobStore:
    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget_bytes = budget_bytes
        # Bytes held, counted once from the disk then kept up to date by every write:
        # the budget is checked for each received chunk, and walking every file each time
        # would make fetching cost more the more files a box holds.  The daemon owns the
        # folder (one store per box), so nothing else changes it behind our back.
        self._used: int | None = None

    def path(self, digest: str) -> Path:
        if not is_blob_hash(digest):
            raise BlobError(f"not a SHA-256 hex digest: {digest[:80]!r}")
        # two levels keep directories small on FAT-like SD cards and slow ext4 lookups
        return self.root / digest[:2] / digest[2:]

    def partial_path(self, digest: str) -> Path:
        self.path(digest)  # validates the name
        return self.root / "partial" / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def used_bytes(self) -> int:
        if self._used is None:
            self._used = self._count_used()
        return self._used

    def _count_used(self) -> int:
        if not self.root.exists():
            return 0
        whole = sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())
        partial = sum(p.stat().st_size for p in self.root.glob("partial/*") if p.is_file())
        return whole + partial

    def fits(self, size: int) -> bool:
        """Would `size` more bytes stay within the budget?"""
        return self.used_bytes() + size <= self.budget_bytes

    def _over_budget(self) -> BlobError:
        return BlobError(f"the box's file budget ({self.budget_bytes // 1_000_000} MB) is used up")

    def put(self, data: bytes, *, expected: str | None = None) -> str:
        """Store `data` and return its hash; if `expected` is given it must match."""
        digest = hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise BlobError(f"content does not match its hash {expected[:12]}…")
        target = self.path(digest)
        if target.is_file():
            return digest
        if not self.fits(len(data)):
            raise self._over_budget()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
        self._used = self.used_bytes() + len(data)
        return digest

    def delete(self, digest: str) -> None:
        """Forget a blob (a content pack the admin removed); the caller checked that
        nothing names it any more.  A power cut leaves it there or gone, never half."""
        path = self.path(digest)
        try:
            held = path.stat().st_size
        except FileNotFoundError:
            return
        path.unlink()
        fsync_dir(path.parent)
        if self._used is not None:
            self._used -= held

    def read(self, digest: str) -> bytes:
        """The blob's bytes, checked against its name (a corrupt file is an error)."""
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobError(f"blob {digest[:12]}… is corrupt on disk")
        return data

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        """Part of a whole blob, for a peer fetching it in chunks (it checks the hash)."""
        if offset < 0 or length < 0:
            raise BlobError("a range starts and lasts at 0 or more bytes")
        with open(self.path(digest), "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    # --- fetching in chunks ------------------------------------------------------------------

    def partial_size(self, digest: str) -> int:
        """Bytes of `digest` already received: where the next fetch resumes."""
        try:
            return self.partial_path(digest).stat().st_size
        except FileNotFoundError:
            return 0

    def append_partial(self, digest: str, offset: int, data: bytes, total: int) -> int:
        """Add a received chunk at `offset` (must be the partial file's end); returns its
        new length.  Refused beyond `total` or the budget; fsync is left to `finish`."""
        path = self.partial_path(digest)
        have = self.partial_size(digest)
        if offset != have:
            raise BlobError(f"chunk at {offset} but {have} bytes of {digest[:12]}… are held")
        if have + len(data) > total:
            raise BlobError(f"blob {digest[:12]}… is longer than its announced {total} bytes")
        if not self.fits(len(data)):
            raise self._over_budget()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.write(data)
        self._used = self.used_bytes() + len(data)
        return have + len(data)

    def finish_partial(self, digest: str) -> None:
        """Check the whole partial file against its name, then make it a blob.

        A mismatch deletes the partial file (it can only be wrong from its first byte on
        as far as we can tell) and raises BlobError."""
        path = self.partial_path(digest)
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                hasher.update(chunk)
            os.fsync(handle.fileno())
        if hasher.hexdigest() != digest:
            self.drop_partial(digest)
            raise BlobError(f"received file does not match its hash {digest[:12]}…")
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        fsync_dir(target.parent)

    def drop_partial(self, digest: str) -> None:
        held = self.partial_size(digest)
        self.partial_path(digest).unlink(missing_ok=True)
        if self._used is not None:
            self._used -= held
