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


def test_chunks_resume_from_the_partial_file_and_are_checked(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=1000)
    content = b"0123456789" * 30
    digest = hashlib.sha256(content).hexdigest()
    assert store.append_partial(digest, 0, content[:100], len(content)) == 100
    assert store.partial_size(digest) == 100
    assert store.used_bytes() == 100  # a partial file counts against the budget
    with pytest.raises(BlobError, match="chunk at 50"):
        store.append_partial(digest, 50, content[50:100], len(content))
    with pytest.raises(BlobError, match="longer than"):
        store.append_partial(digest, 100, content[100:] + b"!", len(content))
    store.append_partial(digest, 100, content[100:], len(content))
    store.finish_partial(digest)
    assert store.read(digest) == content and store.partial_size(digest) == 0
    assert store.read_range(digest, 295, 10) == b"56789"


def test_a_wrong_partial_file_is_dropped_and_the_budget_holds(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=100)
    digest = hashlib.sha256(b"right").hexdigest()
    store.append_partial(digest, 0, b"wrong", 5)
    with pytest.raises(BlobError, match="does not match"):
        store.finish_partial(digest)
    assert store.partial_size(digest) == 0 and not store.has(digest)
    big = hashlib.sha256(b"x" * 200).hexdigest()
    with pytest.raises(BlobError, match="budget"):
        store.append_partial(big, 0, b"x" * 200, 200)


def test_the_budget_follows_every_write_without_rescanning(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", budget_bytes=100)
    store.put(b"a" * 40)
    data = b"b" * 30
    digest = hashlib.sha256(data).hexdigest()
    store.append_partial(digest, 0, data[:10], len(data))
    assert store.used_bytes() == 50
    store.append_partial(digest, 10, data[10:], len(data))
    store.finish_partial(digest)  # a partial becoming whole changes nothing held
    assert store.used_bytes() == 70 == BlobStore(tmp_path / "blobs", 100).used_bytes()
    wrong = hashlib.sha256(b"other").hexdigest()
    store.append_partial(wrong, 0, b"c" * 20, 20)
    with pytest.raises(BlobError, match="does not match"):
        store.finish_partial(wrong)
    assert store.used_bytes() == 70 == BlobStore(tmp_path / "blobs", 100).used_bytes()
    with pytest.raises(BlobError, match="budget"):
        store.put(b"d" * 31)
