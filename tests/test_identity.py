from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshportal import identity


def test_node_id_shape_and_check_characters(tmp_path: Path) -> None:
    ident, created = identity.create_or_load(tmp_path)
    assert created
    node_id = ident.node_id
    groups = node_id.split("-")
    assert len(groups) == 4 and all(len(g) == 8 for g in groups)
    assert identity.is_valid_node_id(node_id)
    assert identity.is_valid_node_id(node_id.lower())


def test_a_typo_in_a_node_id_is_caught(tmp_path: Path) -> None:
    node_id = identity.create_or_load(tmp_path)[0].node_id
    caught = 0
    for position, char in enumerate(node_id):
        if char == "-":
            continue
        replacement = "A" if char != "A" else "B"
        typo = node_id[:position] + replacement + node_id[position + 1 :]
        caught += not identity.is_valid_node_id(typo)
    # Luhn mod 32 catches every single-character substitution.
    assert caught == sum(1 for c in node_id if c != "-")


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first, _ = identity.create_or_load(tmp_path)
    mode = stat.S_IMODE((tmp_path / identity.KEY_FILE).stat().st_mode)
    assert mode == 0o600
    second, created = identity.create_or_load(tmp_path)
    assert not created and second.node_id == first.node_id
    assert identity.read_node_id(tmp_path) == first.node_id


def test_refuses_a_key_readable_by_others(tmp_path: Path) -> None:
    identity.create_or_load(tmp_path)
    os.chmod(tmp_path / identity.KEY_FILE, 0o644)
    with pytest.raises(identity.IdentityError, match="chmod 600"):
        identity.load(tmp_path)


def test_refuses_a_key_that_is_not_one(tmp_path: Path) -> None:
    key = tmp_path / identity.KEY_FILE
    fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(identity.IdentityError, match="not an Ed25519 key"):
        identity.load(tmp_path)


def test_private_key_matches_public_file(tmp_path: Path) -> None:
    ident, _ = identity.create_or_load(tmp_path)
    message = b"bonjour"
    signature = ident.private_key().sign(message)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(ident.public_bytes).verify(signature, message)
    (tmp_path / "other").mkdir()
    other, _ = identity.create_or_load(tmp_path / "other")
    (tmp_path / identity.PUBLIC_FILE).write_bytes(
        (tmp_path / "other" / identity.PUBLIC_FILE).read_bytes()
    )
    swapped = identity.load(tmp_path)
    assert swapped.node_id == other.node_id
    with pytest.raises(identity.IdentityError, match="does not match"):
        swapped.private_key()
