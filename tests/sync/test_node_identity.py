import pytest

from sync.errors import BadSignature, InvalidNodeId
from sync.identity import Identity, node_id_from_public_key, parse_node_id, verify_signature

SYNCTHING_DEVICE_ID = "P56IOI7-MZJNU2Y-IQGDREY-DM2MGTI-MGL3BXN-PQ6W5BM-TBBZ4TJ-XZWICQ2"


def test_syncthing_device_id_checks_with_our_luhn() -> None:
    # a real Syncthing device id: our check characters must agree with Syncthing's
    assert parse_node_id(SYNCTHING_DEVICE_ID) == SYNCTHING_DEVICE_ID
    assert parse_node_id(SYNCTHING_DEVICE_ID.lower().replace("-", "")) == SYNCTHING_DEVICE_ID


def test_node_id_shape_and_determinism() -> None:
    key = bytes(range(32))
    node_id = node_id_from_public_key(key)
    assert node_id == node_id_from_public_key(key)
    assert len(node_id) == 63 and node_id.count("-") == 7
    assert parse_node_id(node_id) == node_id
    assert node_id_from_public_key(bytes(32)) != node_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P56IOI7-MZJNU2Y",
        SYNCTHING_DEVICE_ID.replace("P56", "Q56"),  # one typo: a check character catches it
        SYNCTHING_DEVICE_ID.replace("2", "1"),  # '1' is not base32
        SYNCTHING_DEVICE_ID + "A",
    ],
)
def test_bad_node_ids_are_refused(text: str) -> None:
    with pytest.raises(InvalidNodeId):
        parse_node_id(text)


def test_key_length_is_checked() -> None:
    with pytest.raises(InvalidNodeId):
        node_id_from_public_key(b"short")


def test_sign_and_verify() -> None:
    me = Identity.from_private_bytes(bytes([7]) * 32)
    assert Identity.from_private_bytes(me.private_bytes()).node_id == me.node_id
    signature = me.sign(b"head")
    verify_signature(me.public_bytes, signature, b"head")
    with pytest.raises(BadSignature):
        verify_signature(me.public_bytes, signature, b"head!")
    with pytest.raises(BadSignature):
        verify_signature(Identity.generate().public_bytes, signature, b"head")
