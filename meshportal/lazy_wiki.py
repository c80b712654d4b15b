"""The box's wiki, built on the first request that needs it.

The wiki service, its index and merge code (and the engine modules they use) are about
1 MiB that a box whose visitors only read lessons never needs; a restarted box pays for
them when the wiki is first opened, not at start.  Nothing is lost by waiting: a wiki
built late catches its index up with the replica on first use, as one built at start
does before its first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from meshportal.blobs import BlobStore
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database

if TYPE_CHECKING:
    from meshportal.wiki.service import Wiki

__all__ = ["WIKI", "LazyWiki"]


class LazyWiki:
    def __init__(self, db: Database, host: ReplicaHost, blobs: BlobStore, node_id: str) -> None:
        self.db = db
        self.host = host
        self.blobs = blobs
        self.node_id = node_id
        self._wiki: Wiki | None = None

    @property
    def built(self) -> bool:
        return self._wiki is not None

    def get(self) -> Wiki:
        if self._wiki is None:
            from meshportal.wiki.service import Wiki

            self._wiki = Wiki(self.db, self.host, self.blobs, self.node_id)
        return self._wiki

    async def status_section(self) -> dict[str, Any]:
        return await self.get().status_section()


WIKI = web.AppKey("wiki", LazyWiki)
