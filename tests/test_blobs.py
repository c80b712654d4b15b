"""Content-addressed blob store: dedup, hash checks, budget, corrupt files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from meshportal.blobs import BlobError, BlobStore


def test_put_is_idempotent_and_checked(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=1000)
    digest = store.put(b"%PDF-1.4 bonjour")
    assert digest == hashlib.sha256(b"%PDF-1.4 bonjour").hexdigest()
    assert store.put(b"%PDF-1.4 bonjour") == digest
    assert store.read(digest) == b"%PDF-1.4 bonjour"
    assert store.used_bytes() == len(b"%PDF-1.4 bonjour")
    assert not list((tmp_path / "blobs").glob("??/.*part"))


def test_refuses_wrong_hash_bad_names_and_over_budget(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=10)
    with pytest.raises(BlobError, match="does not match"):
        store.put(b"abc", expected="0" * 64)
    with pytest.raises(BlobError, match="not a SHA-256"):
        store.path("../../etc/passwd")
    with pytest.raises(BlobError, match="budget"):
        store.put(b"x" * 11)
    assert store.used_bytes() == 0


def test_a_corrupt_blob_is_reported(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=1000)
    digest = store.put(b"image")
    store.path(digest).write_bytes(b"imagf")
    with pytest.raises(BlobError, match="corrupt"):
        store.read(digest)
