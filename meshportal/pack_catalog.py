"""The shared catalog of content packs, and the rules for taking a pack from it.

The replica map ``packs/catalog`` names every published pack: key = pack name, value =
``[version, archive sha256, archive size, publisher node id]``.  It replicates like
everything else; the archive itself is a blob (see pack_archive) fetched by its hash.

Who published an entry is not taken on its word: the value names a publisher, and the
entry counts only if the write that holds the key now (the last writer wins) was
signed by that same node's key.  A box installs a pack only when

* the admin accepts that name (``packs_accept``: names, or ``*``);
* the signing publisher is a node this box trusts (revoked or untrusted: never, public
  mode or not; public mode shares public wiki content, not content the box serves as
  its own lessons);
* its version is newer than the one the box serves now.

Pure functions over a replica: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshportal.blobs import is_blob_hash
from meshportal.identity import node_id_from_public_key

if TYPE_CHECKING:  # the sync engine loads with the replica, not at start
    from sync.replica import Replica

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "catalog",
    "catalog_blobs",
    "is_newer",
    "parse_accept",
    "signer",
    "verdict",
    "version_key",
]

CATALOG = "packs/catalog"
_PACK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    version: str
    digest: str
    size: int
    publisher: str

    def as_value(self) -> list[Any]:
        return [self.version, self.digest, self.size, self.publisher]


def parse_entry(name: str, value: Any) -> CatalogEntry | None:
    """The entry, or None when the value is not a well-formed catalog entry."""
    if not _PACK_NAME.fullmatch(name) or not isinstance(value, list) or len(value) != 4:
        return None
    version, digest, size, publisher = value
    if not (isinstance(version, str) and version and isinstance(publisher, str)):
        return None
    if not is_blob_hash(digest) or type(size) is not int or size < 0:
        return None
    return CatalogEntry(name, version, digest, size, publisher)


def catalog(replica: Replica) -> dict[str, CatalogEntry]:
    if replica.documents().get(CATALOG) != "map":
        return {}
    out = {}
    for name, value in replica.value(CATALOG).items():
        entry = parse_entry(name, value)
        if entry is not None:
            out[name] = entry
    return out


def catalog_blobs(replica: Replica) -> dict[str, int]:
    """hash -> size of every archive the catalog names: what this box may serve."""
    return {entry.digest: entry.size for entry in catalog(replica).values()}


def signer(replica: Replica, name: str) -> str | None:
    """The mesh node id whose signed change holds the catalog entry ``name`` now."""
    origin = replica.writer(CATALOG, name)
    key = replica.public_key(origin) if origin is not None else None
    return node_id_from_public_key(key) if key is not None else None


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Dotted versions compared part by part: numbers as numbers ("1.10" > "1.9"), other
    parts as text after numbers; trailing zeros do not count ("1.0" == "1")."""
    parts = [p for p in re.split(r"[.\-+_]", version.strip().lower()) if p]
    key = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]
    while key and key[-1] == (0, 0, ""):
        key.pop()
    return tuple(key)


def is_newer(version: str, than: str | None) -> bool:
    return than is None or version_key(version) > version_key(than)


def parse_accept(items: Iterable[str]) -> Callable[[str], bool]:
    """``packs_accept`` as a test on pack names: empty = none, ``*`` = all."""
    names = {item.strip() for item in items if item.strip()}
    return lambda name: "*" in names or name in names


def verdict(
    entry: CatalogEntry,
    signed_by: str | None,
    *,
    accepted: bool,
    trusted: Callable[[str], bool],
) -> str | None:
    """None when this box may take the entry (if newer than what it serves), else why
    not, for status."""
    if not accepted:
        return "not accepted (packs_accept)"
    if signed_by is None or signed_by != entry.publisher:
        return f"publisher {entry.publisher[:15]}… did not sign this entry"
    if not trusted(signed_by):
        return f"publisher {signed_by[:15]}… is not trusted"
    return None
