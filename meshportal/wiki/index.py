"""The wiki's SQLite index: pages, revisions, links and full-text search, kept in step
with the replica after every commit.  Pure SQL over a borrowed connection."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

__all__ = ["PageRow", "Revision", "SearchHit", "fts_query", "search"]

_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"  # never in text we index: see search()


@dataclass(frozen=True)
class PageRow:
    pid: str
    slug: str
    title: str
    size: int
    updated: float
    head: str


@dataclass(frozen=True)
class Revision:
    origin: str
    seq: int
    pid: str
    at: float
    summary: str
    author: str

    @property
    def rev(self) -> str:
        return f"{self.origin}:{self.seq}"


@dataclass(frozen=True)
class SearchHit:
    kind: str  # 'wiki' or 'lesson'
    url: str  # where the hit is read
    title: str
    snippet_parts: list[tuple[str, bool]]  # (text, highlighted)
    lang: str


async def upsert_pages(conn: aiosqlite.Connection, rows: Iterable[PageRow]) -> None:
    await conn.executemany(
        "INSERT OR REPLACE INTO wiki_page (pid, slug, title, size, updated, head)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(r.pid, r.slug, r.title, r.size, r.updated, r.head) for r in rows],
    )


async def add_revisions(conn: aiosqlite.Connection, rows: Iterable[Revision]) -> None:
    await conn.executemany(
        "INSERT OR IGNORE INTO wiki_revision (origin, seq, pid, at, summary, author)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(r.origin, r.seq, r.pid, r.at, r.summary, r.author) for r in rows],
    )


async def set_notes(conn: aiosqlite.Connection, notes: Iterable[tuple[str, str, str]]) -> None:
    """(rev 'origin:seq', summary, author) for revisions whose note arrived."""
    rows = []
    for rev, summary, author in notes:
        origin, _, seq = rev.rpartition(":")
        if origin and seq.isdigit():
            rows.append((summary, author, origin, int(seq)))
    await conn.executemany(
        "UPDATE wiki_revision SET summary = ?, author = ? WHERE origin = ? AND seq = ?", rows
    )


async def _select_in(
    conn: aiosqlite.Connection, sql: str, values: list[str], args: tuple[Any, ...] = ()
) -> list[Any]:
    """Rows of `sql` (ending in 'IN ') for every value, in chunks under SQLite's
    bound-parameter limit: one statement per 500 values, not one per value."""
    rows: list[Any] = []
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows += await fetch_all(conn, f"{sql}({marks})", (*args, *chunk))
    return rows


async def page_times(conn: aiosqlite.Connection, pids: list[str]) -> dict[str, tuple[float, str]]:
    """(updated, head) of the given pages already indexed."""
    sql = "SELECT pid, updated, head FROM wiki_page WHERE pid IN "
    return {str(p): (float(u), str(h)) for p, u, h in await _select_in(conn, sql, pids)}


async def _search_rowids(conn: aiosqlite.Connection, kind: str, refs: list[str]) -> dict[str, int]:
    sql = "SELECT rowid, ref FROM search_entry WHERE kind = ? AND ref IN "
    return {str(ref): int(rowid) for rowid, ref in await _select_in(conn, sql, refs, (kind,))}


async def set_links_many(conn: aiosqlite.Connection, links: dict[str, set[str]]) -> None:
    await conn.executemany("DELETE FROM wiki_link WHERE src = ?", [(pid,) for pid in links])
    await conn.executemany(
        "INSERT OR IGNORE INTO wiki_link (src, dst) VALUES (?, ?)",
        [(pid, slug) for pid, slugs in links.items() for slug in slugs],
    )


async def set_searchable_many(
    conn: aiosqlite.Connection, kind: str, entries: dict[str, tuple[str, str, str] | None]
) -> None:
    """(title, body, lang) becomes searchable under each (kind, ref); None removes it.

    An FTS row is addressed by the rowid of its `search_entry` row: a lookup by rowid,
    where a delete by (kind, ref) would scan the whole full-text table.  A handful of
    statements for the whole batch, whatever its size.
    """
    rowids = await _search_rowids(conn, kind, list(entries))
    await conn.executemany(
        "DELETE FROM portal_search WHERE rowid = ?",
        [(rowids[ref],) for ref in entries if ref in rowids],
    )
    gone = [ref for ref, entry in entries.items() if entry is None and ref in rowids]
    await conn.executemany(
        "DELETE FROM search_entry WHERE rowid = ?", [(rowids.pop(ref),) for ref in gone]
    )
    new = [ref for ref, entry in entries.items() if entry is not None and ref not in rowids]
    if new:
        await conn.executemany(
            "INSERT INTO search_entry (kind, ref) VALUES (?, ?)", [(kind, ref) for ref in new]
        )
        rowids.update(await _search_rowids(conn, kind, new))
    await conn.executemany(
        "INSERT INTO portal_search (rowid, title, body, kind, ref, lang) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (rowids[ref], title, _strip_marks(body), kind, ref, lang)
            for ref, entry in entries.items()
            if entry is not None
            for title, body, lang in (entry,)
        ],
    )


def _strip_marks(body: str) -> str:
    return body.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")


async def forget_searchable(conn: aiosqlite.Connection, kind: str) -> None:
    """Remove every entry of one kind (a full rebuild follows)."""
    await conn.execute(
        "DELETE FROM portal_search WHERE rowid IN (SELECT rowid FROM search_entry WHERE kind = ?)",
        (kind,),
    )
    await conn.execute("DELETE FROM search_entry WHERE kind = ?", (kind,))


# title matches weigh five times body matches; the two markers are our constants
_SEARCH_SQL = (
    "SELECT s.kind, CASE s.kind WHEN 'wiki' THEN '/wiki/' || p.slug ELSE s.ref END,"  # noqa: S608
    f" s.title, s.lang, snippet(portal_search, 1, '{_MARK_OPEN}', '{_MARK_CLOSE}', '…', 16)"
    " FROM portal_search s LEFT JOIN wiki_page p ON s.kind = 'wiki' AND p.pid = s.ref"
    " WHERE portal_search MATCH ? AND (s.kind != 'wiki' OR p.pid IS NOT NULL)"
    " ORDER BY bm25(portal_search, 5.0, 1.0) LIMIT ?"
)


def fts_query(text: str) -> str | None:
    """Words typed by a visitor as an FTS5 query: every word, each as a prefix.

    Quoting each word keeps FTS5 operators (AND, NEAR, column filters, quotes) typed by
    a visitor from being interpreted; an empty query matches nothing.
    """
    words = re.findall(r"\w+", text)[:12]
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


async def search(conn: aiosqlite.Connection, text: str, limit: int = 30) -> list[SearchHit]:
    query = fts_query(text)
    if query is None:
        return []
    async with conn.execute(_SEARCH_SQL, (query, limit)) as cursor:
        rows = await cursor.fetchall()
    return [SearchHit(k, r, t, _split_marks(s), lang) for k, r, t, lang, s in rows]


def _split_marks(snippet: str) -> list[tuple[str, bool]]:
    # The snippet comes back as raw text with our two control characters around the
    # matches; splitting on them lets the template escape every part itself.
    parts: list[tuple[str, bool]] = []
    for i, chunk in enumerate(re.split(f"[{_MARK_OPEN}{_MARK_CLOSE}]", snippet)):
        if chunk:
            parts.append((chunk, i % 2 == 1))
    return parts


async def fetch_all(conn: aiosqlite.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    async with conn.execute(sql, args) as cursor:
        return list(await cursor.fetchall())
