"""What a box announces by mDNS, as pure functions: TXT records in and out.

The TXT records carry enough for a peer to decide, without connecting,
whether a sync is needed: the node id, the protocol version, the sync port
and a short digest of the version vector (equal digests: nothing to do).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from meshportal.identity import is_valid_node_id

SERVICE_TYPE = "_meshportal._tcp.local."
PROTOCOL_VERSION = 1
DIGEST_CHARS = 16  # 64 bits: a collision between two different vectors is not a worry
_MAX_LABEL = 63  # bytes of one DNS label, the instance name included


class AdvertError(ValueError):
    """A TXT record set that is not a meshportal advert (foreign or damaged)."""


@dataclass(frozen=True)
class Advert:
    node_id: str
    name: str
    protocol: int
    sync_port: int
    digest: str
    pairing: bool = False


def vector_digest(vector: Mapping[str, int]) -> str:
    """A short, order-independent digest of a version vector {node id: counter}."""
    canonical = "".join(f"{node}:{count}\n" for node, count in sorted(vector.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_CHARS]


def encode_txt(advert: Advert) -> dict[str, str]:
    txt = {
        "id": advert.node_id,
        "v": str(advert.protocol),
        "port": str(advert.sync_port),
        "vv": advert.digest,
        "name": advert.name[:_MAX_LABEL],
    }
    if advert.pairing:
        txt["pair"] = "1"
    return txt


def _text(props: Mapping[bytes, bytes | None], key: bytes) -> str:
    raw = props.get(key)
    if raw is None:
        raise AdvertError(f"TXT record {key.decode()!r} is missing")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AdvertError(f"TXT record {key.decode()!r} is not UTF-8") from None


def decode_txt(props: Mapping[bytes, bytes | None]) -> Advert:
    """Parse a peer's TXT records; anything not ours raises AdvertError."""
    node_id = _text(props, b"id").upper()
    if not is_valid_node_id(node_id):
        raise AdvertError(f"TXT id {node_id!r} is not a valid node id")
    try:
        protocol = int(_text(props, b"v"))
        port = int(_text(props, b"port"))
    except ValueError:
        raise AdvertError("TXT v and port must be integers") from None
    if not 1 <= port <= 65535:
        raise AdvertError(f"TXT port {port} is out of range")
    digest = _text(props, b"vv")
    if not re.fullmatch(f"[0-9a-f]{{{DIGEST_CHARS}}}", digest):
        raise AdvertError(f"TXT vv {digest!r} is not a digest")
    name = props.get(b"name") or b""
    return Advert(
        node_id=node_id,
        name=name.decode("utf-8", "replace"),
        protocol=protocol,
        sync_port=port,
        digest=digest,
        pairing=props.get(b"pair") == b"1",
    )


def instance_name(box_name: str, node_id: str) -> str:
    """``name-ABCD``: human, and unique enough that two boxes called alike do not clash."""
    suffix = "-" + node_id.replace("-", "")[:6].lower()
    clean = re.sub(r"[^\w -]+", "", box_name, flags=re.UNICODE).strip() or "booture"
    budget = _MAX_LABEL - len(suffix.encode())
    while len(clean.encode()) > budget:
        clean = clean[:-1]
    return clean + suffix
