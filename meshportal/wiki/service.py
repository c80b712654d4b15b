"""The wiki as the portal uses it: read, save (merging concurrent saves), rename, history,
restore, links, attachments, search and moderation.

Every write is a change in the box's replica, so it replicates to the other boxes like
everything else; the SQLite index is brought up to date after each commit, whether the
change was made here or arrived from a peer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack

from meshportal.blobs import BlobStore
from meshportal.replica_host import ReplicaHost
from meshportal.store import Database
from meshportal.web.markup import slugify, wiki_links
from meshportal.wiki import index
from meshportal.wiki import pages as P
from meshportal.wiki.merge import merge3
from sync.hlc import hlc_ms

if TYPE_CHECKING:
    from sync.change import Change
    from sync.replica import Replica

__all__ = ["Page", "SaveResult", "Wiki", "WikiError"]

MAX_PAGE_CHARS = 1_000_000
MAX_TITLE = 120
RESERVED_SLUGS = frozenset({"nouvelle", "modifications"})  # the wiki's own addresses


class WikiError(Exception):
    """A request the wiki refuses, said plainly (the message is shown to the visitor)."""


@dataclass
class Page:
    pid: str
    slug: str
    title: str
    text: str
    head: str
    hidden: bool
    locked: bool
    files: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SaveResult:
    page: Page
    merged: bool  # the page had changed since the visitor opened the editor


class _TextCache:
    """Recent revision texts by 'origin:seq', so a concurrent save finds its base without
    replaying history.  Bounded by characters held."""

    def __init__(self, max_chars: int = 4_000_000) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._max = max_chars

    def get(self, rev: str) -> str | None:
        text = self._items.get(rev)
        if text is not None:
            self._items.move_to_end(rev)
        return text

    def put(self, rev: str, text: str) -> None:
        if not rev or rev in self._items:
            return
        self._items[rev] = text
        self._chars += len(text)
        while self._chars > self._max and self._items:
            _rev, old = self._items.popitem(last=False)
            self._chars -= len(old)


class Wiki:
    def __init__(self, db: Database, host: ReplicaHost, blobs: BlobStore, node_id: str) -> None:
        self.db = db
        self.host = host
        self.blobs = blobs
        self.node_id = node_id  # this box, for local-only moderation (client blocks)
        self._texts = _TextCache()
        self._ready = asyncio.Lock()
        self._indexed = False
        # bumped by every commit: rendered pages cached under an older value are stale
        # (their text, or which of their links lead somewhere, may have changed)
        self.generation = 0
        self._heads: dict[str, str] = {}  # page id -> 'origin:seq' of its last body change
        host.on_commit(self._on_commit)

    # --- loading ---------------------------------------------------------------------------

    async def replica(self) -> Replica:
        replica = await self.host.replica()
        if not self._indexed:
            async with self._ready:
                if not self._indexed:
                    await self._catch_up(replica)
                    self._indexed = True
        return replica

    async def _catch_up(self, replica: Replica) -> None:
        rows = await index.fetch_all(
            self.db.reader, "SELECT value FROM wiki_state WHERE key = 'vv'"
        )
        stored = msgpack.unpackb(rows[0][0]) if rows else {}
        if stored != replica.version_vector():
            # the index lags (first start, or a crash between the two commits): rebuild it
            from sync.history import iter_applied

            await self._reindex(replica, iter_applied(replica), full=True)

    # --- the index follows the replica -----------------------------------------------------

    async def _on_commit(self, replica: Replica, changes: list[Change]) -> None:
        self.generation += 1
        # One reindex at a time (each awaits the database, and a visitor's save and a
        # peer's batch can commit meanwhile).  Before the first catch-up nothing is
        # indexed: the catch-up reads the whole replica, these changes included.
        async with self._ready:
            if self._indexed:
                await self._reindex(replica, changes, full=False)

    async def _reindex(self, replica: Replica, changes: Iterable[Change], full: bool) -> None:
        # the version this index will claim to cover, taken before any await: changes
        # applied while we work are indexed by their own commit's reindex, and until then
        # the stored version stays behind the replica's (a restart rebuilds)
        covered = msgpack.packb(replica.version_vector())
        touched: set[str] = set()
        heads: dict[str, str] = {}
        revisions: list[index.Revision] = []
        notes: set[str] = set()
        for change in changes:
            for name, _type, op in change.ops:
                where = P.page_of(name)
                if where is None:
                    if name == P.MODERATION and isinstance(op, list | tuple) and len(op) > 1:
                        # 'hide/<pid>', 'hide/<pid>/<rev>', 'lock/<pid>': that page only
                        parts = str(op[1]).split("/")
                        if parts[0] in ("hide", "lock") and len(parts) > 1:
                            touched.add(parts[1])
                    continue
                pid, part = where
                touched.add(pid)
                if part == "body":
                    rev = P.rev_id(change)
                    if heads.get(pid) != rev:
                        heads[pid] = rev
                        at = hlc_ms(change.hlc) / 1000
                        revisions.append(index.Revision(change.origin, change.seq, pid, at, "", ""))
                elif part == "revs":
                    notes.add(pid)
        if full:
            touched = set(self._pids(replica))
            notes = set(touched)
        async with self.db.transaction() as conn:
            if full:
                for table in ("wiki_page", "wiki_revision", "wiki_link"):
                    await conn.execute(f"DELETE FROM {table}")  # noqa: S608 - our names
                await index.forget_searchable(conn, "wiki")
            await index.add_revisions(conn, revisions)
            for pid in notes:
                doc = replica.docs.get(P.revs(pid))
                if doc is not None:
                    await index.set_notes(
                        conn, ((rev, str(v[0]), str(v[1])) for rev, v in doc.value().items())
                    )
            latest: dict[str, float] = {}
            for revision in revisions:
                latest[revision.pid] = max(latest.get(revision.pid, 0.0), revision.at)
            missing = [] if full else [pid for pid in touched if pid not in latest]
            known = await index.page_times(conn, missing)
            rows = []
            links: dict[str, set[str]] = {}
            searchable: dict[str, tuple[str, str, str] | None] = {}
            for pid in touched:
                page = self._page(replica, pid)
                if page is None:
                    continue
                if pid in latest:
                    updated, page.head = latest[pid], heads[pid]
                else:  # only its title, files or moderation changed: keep what we had
                    updated, page.head = known.get(pid, (time.time(), ""))
                rows.append(
                    index.PageRow(pid, page.slug, page.title, len(page.text), updated, page.head)
                )
                links[pid] = wiki_links(page.text)
                searchable[pid] = None if page.hidden else (page.title, page.text, "")
            # a few statements for the whole batch: a sync of thousands of pages must not
            # pay a thread hop per page and per table
            await index.set_links_many(conn, links)
            await index.set_searchable_many(conn, "wiki", searchable)
            await index.upsert_pages(conn, rows)
            await conn.execute(
                "INSERT OR REPLACE INTO wiki_state (key, value) VALUES ('vv', ?)",
                (covered,),
            )
        # only once committed: a failed transaction leaves the cache as the database is
        if full:
            self._heads.clear()
        self._heads.update((row.pid, row.head) for row in rows)

    @staticmethod
    def _pids(replica: Replica) -> list[str]:
        return [
            where[0]
            for name in replica.docs
            if (where := P.page_of(name)) is not None and where[1] == "meta"
        ]

    # --- reading ---------------------------------------------------------------------------

    def _page(self, replica: Replica, pid: str, with_text: bool = True) -> Page | None:
        meta = replica.docs.get(P.meta(pid))
        if meta is None:
            return None
        mod = P.MODERATION
        files_doc = replica.docs.get(P.files(pid))
        return Page(
            pid=pid,
            slug=str(meta.get("slug", pid)),  # type: ignore[attr-defined]
            title=str(meta.get("title", pid)),  # type: ignore[attr-defined]
            # the text is the one costly part (joined from the CRDT): a cached page view
            # does not need it
            text=replica.text(P.body(pid)) if with_text else "",
            head="",
            hidden=bool(P.map_get(replica, mod, f"hide/{pid}", False)),
            locked=bool(P.map_get(replica, mod, f"lock/{pid}", False)),
            files=dict(files_doc.value()) if files_doc is not None else {},
        )

    def revision_hidden(self, replica: Replica, pid: str, rev: str) -> bool:
        return bool(P.map_get(replica, P.MODERATION, f"hide/{pid}/{rev}", False))

    async def find(self, slug: str, with_text: bool = True) -> Page | None:
        replica = await self.replica()
        pid = P.map_get(replica, P.SLUGS, slug)
        if not isinstance(pid, str):
            return None
        page = self._page(replica, pid, with_text)
        if page is not None:
            page.head = await self.head(pid)
        return page

    async def text(self, pid: str) -> str:
        return (await self.replica()).text(P.body(pid))

    async def head(self, pid: str) -> str:
        """The page's latest revision; kept in memory, since every write goes through
        _reindex in this process (a page view then costs no database round trip)."""
        head = self._heads.get(pid)
        if head is None:
            rows = await index.fetch_all(
                self.db.reader, "SELECT head FROM wiki_page WHERE pid = ?", (pid,)
            )
            head = self._heads[pid] = str(rows[0][0]) if rows else ""
        return head

    async def linkable(self) -> Callable[[str], bool]:
        """Tells whether a slug leads to a page (current or old name), for rendering links:
        a lookup in the replica's slug map, no copy of it."""
        replica = await self.replica()
        return lambda slug: P.map_get(replica, P.SLUGS, slug) is not None

    async def pages(self) -> list[index.PageRow]:
        await self.replica()
        rows = await index.fetch_all(
            self.db.reader,
            "SELECT pid, slug, title, size, updated, head FROM wiki_page"
            " ORDER BY title COLLATE NOCASE",
        )
        return [index.PageRow(*row) for row in rows]

    async def recent(self, limit: int = 50) -> list[tuple[index.Revision, str, str]]:
        """Latest revisions with the page's slug and title."""
        await self.replica()
        rows = await index.fetch_all(
            self.db.reader,
            "SELECT r.origin, r.seq, r.pid, r.at, r.summary, r.author, p.slug, p.title"
            " FROM wiki_revision r JOIN wiki_page p ON p.pid = r.pid"
            " ORDER BY r.at DESC LIMIT ?",
            (limit,),
        )
        return [(index.Revision(*row[:6]), row[6], row[7]) for row in rows]

    async def history(self, pid: str) -> list[index.Revision]:
        await self.replica()
        rows = await index.fetch_all(
            self.db.reader,
            "SELECT origin, seq, pid, at, summary, author FROM wiki_revision"
            " WHERE pid = ? ORDER BY at DESC, origin, seq DESC",
            (pid,),
        )
        return [index.Revision(*row) for row in rows]

    async def backlinks(self, slug: str) -> list[tuple[str, str]]:
        await self.replica()
        rows = await index.fetch_all(
            self.db.reader,
            "SELECT p.slug, p.title FROM wiki_link l JOIN wiki_page p ON p.pid = l.src"
            " WHERE l.dst = ? ORDER BY p.title COLLATE NOCASE",
            (slug,),
        )
        return [(str(a), str(b)) for a, b in rows]

    async def text_at(self, pid: str, rev: str) -> str:
        """The page's text right after revision `rev` ('origin:seq')."""
        cached = self._texts.get(rev)
        if cached is not None:
            return cached
        replica = await self.replica()
        for entry in replica.history(P.body(pid)):
            if f"{entry.origin}:{entry.seq}" == rev:
                text = replica.value_at(P.body(pid), entry.version)
                assert isinstance(text, str)
                self._texts.put(rev, text)
                return text
        raise WikiError("unknown revision")

    def remember(self, rev: str, text: str) -> None:
        """The editor was opened on `rev`: keep its text for a concurrent save's merge."""
        self._texts.put(rev, text)

    async def search(self, text: str) -> list[index.SearchHit]:
        await self.replica()
        return await index.search(self.db.reader, text)

    async def status_section(self) -> dict[str, Any]:
        """For `meshportal status`: read from the index, so the replica need not load."""
        rows = await index.fetch_all(
            self.db.reader,
            "SELECT (SELECT count(*) FROM wiki_page), (SELECT count(*) FROM wiki_revision),"
            " (SELECT max(at) FROM wiki_revision)",
        )
        pages, revisions, last = rows[0]
        return {
            "pages": pages,
            "revisions": revisions,
            "last_change": time.strftime("%Y-%m-%d %H:%M", time.localtime(last)) if last else "-",
            "files_bytes": await asyncio.to_thread(self.blobs.used_bytes),
        }

    # --- writing ---------------------------------------------------------------------------

    async def save(
        self,
        slug: str,
        text: str,
        *,
        base: str,
        summary: str = "",
        author: str = "",
        title: str | None = None,
        admin: bool = False,
    ) -> SaveResult:
        """Save a visitor's full text.  `base` is the revision their editor started from
        ('' for a new page); if the page moved on since, both texts are merged."""
        text = _clean_text(text)
        page = await self.find(slug)
        if page is not None and page.locked and not admin:
            raise WikiError("locked")
        if page is not None and page.hidden and not admin:
            raise WikiError("hidden")
        merged = False
        if page is not None and base != page.head:
            base_text = "" if not base else await self.text_at(page.pid, base)
            text = merge3(base_text, page.text, text)
            merged = True
        async with self.host.editing() as replica:
            if page is None:
                name = (title or slug).strip()[:MAX_TITLE]
                slug = slugify(name)
                if not slug:
                    raise WikiError("bad title")
                if slug in RESERVED_SLUGS:
                    slug += "-page"
                pid = P.new_page_id()
                replica.set_key(P.meta(pid), "title", name)
                replica.set_key(P.meta(pid), "slug", slug)
                replica.set_key(P.meta(pid), "created", time.time())
                replica.set_key(P.SLUGS, slug, pid)
            else:
                pid = page.pid
            change = replica.replace_text(P.body(pid), text)
            if change is not None:
                replica.set_key(P.revs(pid), P.rev_id(change), [summary[:200], author[:60]])
        saved = await self.find(slug, with_text=False)
        assert saved is not None
        saved.text = text  # what replace_text just made the body
        self._texts.put(saved.head, text)
        return SaveResult(saved, merged)

    async def rename(self, page: Page, new_title: str) -> str:
        name = new_title.strip()[:MAX_TITLE]
        slug = slugify(name)
        if not slug:
            raise WikiError("bad title")
        replica = await self.replica()
        owner = P.map_get(replica, P.SLUGS, slug)
        if owner not in (None, page.pid):
            current = self._page(replica, str(owner), with_text=False)
            if current is not None and current.slug == slug:  # not just an old name
                raise WikiError("title taken")
        async with self.host.editing() as replica:
            replica.set_key(P.meta(page.pid), "title", name)
            replica.set_key(P.meta(page.pid), "slug", slug)
            replica.set_key(P.SLUGS, slug, page.pid)  # the old slug keeps pointing here
        return slug

    async def restore(self, page: Page, rev: str, author: str = "") -> SaveResult:
        old = await self.text_at(page.pid, rev)
        return await self.save(
            page.slug,
            old,
            base=page.head,
            summary=f"↩ {rev.split(':')[1]}",
            author=author,
            admin=True,
        )

    async def attach(self, page: Page, name: str, data: bytes, media_type: str) -> str:
        digest = await asyncio.to_thread(self.blobs.put, data)
        async with self.host.editing() as replica:
            replica.set_key(P.files(page.pid), name, [digest, len(data), media_type])
        return digest

    async def moderate(self, key: str, value: Any) -> None:
        async with self.host.editing() as replica:
            replica.set_key(P.MODERATION, key, value)

    async def blocked_until(self, client: str) -> float:
        replica = await self.replica()
        until = P.map_get(replica, P.MODERATION, f"block/{self.node_id}/{client}", 0)
        return float(until) if isinstance(until, int | float) else 0.0


def _clean_text(text: str) -> str:
    # Browsers send CRLF from textareas; the CRDT and diffs want one line ending.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_PAGE_CHARS:
        raise WikiError("too large")
    return text
