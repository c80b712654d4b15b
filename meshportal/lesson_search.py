"""The lessons of the served packs in the search index, beside the wiki's pages.

Kept apart from the wiki service so that a start (which runs this every time) does not
load the wiki: a restart with the same packs only reads one fingerprint, and the index
code is imported only when the lessons changed.
"""

from __future__ import annotations

import hashlib

import msgpack

from meshportal.packs import Pack
from meshportal.store import Database

__all__ = ["index_lessons"]


async def index_lessons(db: Database, packs: list[Pack]) -> None:
    """Make the lessons searchable; skipped when they did not change since last time,
    so a restart writes nothing to the SD card."""
    entries = [
        (
            f"/lecons/{x.pack}/{x.slug}?lang={x.language}",
            x.title,
            f"{x.summary}\n{x.body}",
            x.language,
        )
        for pack in packs
        for x in pack.lessons
    ]
    fingerprint = hashlib.sha256(msgpack.packb(entries)).digest()
    async with db.reader.execute("SELECT value FROM wiki_state WHERE key = 'lessons'") as cursor:
        row = await cursor.fetchone()
    if row is not None and bytes(row[0]) == fingerprint:
        return
    from meshportal.wiki import index

    async with db.transaction() as conn:
        await index.forget_searchable(conn, "lesson")
        await index.set_searchable_many(
            conn, "lesson", {ref: (title, body, lang) for ref, title, body, lang in entries}
        )
        await conn.execute(
            "INSERT OR REPLACE INTO wiki_state (key, value) VALUES ('lessons', ?)",
            (fingerprint,),
        )
