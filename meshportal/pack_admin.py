"""The daemon's side of `meshportal pack …`: admin socket commands over the pack share.

No aiohttp here: the app gives the packs it serves now and its content folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from meshportal.blobs import BlobError
from meshportal.pack_archive import ArchiveError
from meshportal.pack_disk import received_folders
from meshportal.pack_listing import pack_rows, removal_problem
from meshportal.pack_share import PackShare, ShareError
from meshportal.packs import Pack, PackError, load_packs

__all__ = ["pack_commands"]

AdminCommand = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def pack_commands(
    share: PackShare, served: Callable[[], list[Pack]], content_dir: Path
) -> dict[str, AdminCommand]:
    def find(name: str) -> Pack | None:
        return next((p for p in served() if p.name == name), None)

    async def publish(request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("name", ""))
        pack = find(name)
        if pack is None:
            return {"error": f"no content pack named {name!r} is served by this box"}
        try:
            entry = await share.publish(pack)
        except (ShareError, ArchiveError, PackError, BlobError) as exc:
            return {"error": str(exc)}
        return {"name": entry.name, "version": entry.version, "hash": entry.digest,
                "size": entry.size, "publisher": entry.publisher}  # fmt: skip

    async def listing(request: dict[str, Any]) -> dict[str, Any]:
        shipped = (await asyncio.to_thread(load_packs, content_dir))[0]
        received = (await asyncio.to_thread(load_packs, share.shared_dir))[0]
        index = share.installed()
        publishers = {name: str(meta.get("publisher", "")) for name, meta in index.items()}
        rows = pack_rows(shipped, received, publishers, share.withdrawn(), share.trusted,
                         share.accepts, [p.path for p in served()])  # fmt: skip
        return {"packs": [r.as_dict() for r in rows], "accept": share.accept_list}

    async def remove(request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("name", ""))
        shipped = (await asyncio.to_thread(load_packs, content_dir))[0]
        received = received_folders(share.shared_dir)  # the index names only these
        problem = removal_problem(name, received, share.withdrawn(), shipped)
        if problem:
            return {"refused": problem, "name": name}
        try:
            item = await share.remove(name)
        except (ShareError, BlobError, OSError) as exc:
            return {"error": str(exc)}
        local = find(name)  # a shipped pack of that name is served again
        return {**item.as_dict(), "local": local.version if local else None}

    async def accept(request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("name", ""))
        lifted = await share.accept(name)
        return {"name": name, "lifted": lifted, "accepted": share.accepts(name),
                "accept": share.accept_list}  # fmt: skip

    return {"pack.publish": publish, "pack.list": listing, "pack.remove": remove,
            "pack.accept": accept}  # fmt: skip
