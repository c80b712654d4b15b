"""Where the wiki lives in the replica: document names and what each holds.

    wiki/slugs            map   slug -> page id (old slugs stay, so renamed pages redirect)
    wiki/<pid>/meta       map   title, slug, created (Unix time)
    wiki/<pid>/body       text  the Markdown source
    wiki/<pid>/revs       map   'origin:seq' of a body change -> [summary, author]
    wiki/<pid>/files      map   file name -> [sha256, size, media type]
    wiki/moderation       map   hide/<pid>, hide/<pid>/<origin:seq>, lock/<pid> -> bool;
                                block/<node>/<client> -> Unix time until which it is blocked

A page id is random, so two boxes creating pages while apart never collide, and the slug
can change (rename) without touching the page's history.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.change import Change
    from sync.replica import Replica

__all__ = [
    "MODERATION",
    "SLUGS",
    "body",
    "files",
    "meta",
    "new_page_id",
    "page_of",
    "rev_id",
    "revs",
]

SLUGS = "wiki/slugs"
MODERATION = "wiki/moderation"


def new_page_id() -> str:
    return secrets.token_hex(6)


def body(pid: str) -> str:
    return f"wiki/{pid}/body"


def meta(pid: str) -> str:
    return f"wiki/{pid}/meta"


def revs(pid: str) -> str:
    return f"wiki/{pid}/revs"


def files(pid: str) -> str:
    return f"wiki/{pid}/files"


def page_of(doc_name: str) -> tuple[str, str] | None:
    """('pid', 'body') for 'wiki/pid/body'; None for documents that are not a page's."""
    parts = doc_name.split("/")
    if len(parts) == 3 and parts[0] == "wiki":
        return parts[1], parts[2]
    return None


def rev_id(change: Change) -> str:
    return f"{change.origin}:{change.seq}"


def map_get(replica: Replica, name: str, key: str, default: Any = None) -> Any:
    doc = replica.docs.get(name)
    if doc is None:
        return default
    return doc.get(key, default)  # type: ignore[attr-defined]
