"""SQLite tables of the wiki: an index derived from the replica, plus admin accounts.

Everything in the wiki_* and portal_search tables can be rebuilt from the replica (the
service does so at load when `wiki_state` shows the index lagging behind it); the admin
tables are local to this box and never replicated.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    """
    CREATE TABLE wiki_page (
        pid     TEXT PRIMARY KEY,
        slug    TEXT NOT NULL,
        title   TEXT NOT NULL,
        size    INTEGER NOT NULL DEFAULT 0,   -- characters of the current text
        updated REAL NOT NULL DEFAULT 0,      -- Unix time of the last revision
        head    TEXT NOT NULL DEFAULT ''      -- 'origin:seq' of the last change to the body
    ) WITHOUT ROWID;
    CREATE INDEX wiki_page_updated ON wiki_page (updated);

    CREATE TABLE wiki_revision (
        origin  TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        pid     TEXT NOT NULL,
        at      REAL NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        author  TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (origin, seq)
    ) WITHOUT ROWID;
    CREATE INDEX wiki_revision_page ON wiki_revision (pid, at);
    CREATE INDEX wiki_revision_at ON wiki_revision (at);

    CREATE TABLE wiki_link (
        src TEXT NOT NULL,   -- page id
        dst TEXT NOT NULL,   -- slug linked to
        PRIMARY KEY (src, dst)
    ) WITHOUT ROWID;
    CREATE INDEX wiki_link_dst ON wiki_link (dst);

    CREATE TABLE wiki_state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;

    -- remove_diacritics 2: "ecologie" finds "écologie", as French readers type on phones
    CREATE VIRTUAL TABLE portal_search USING fts5(
        title, body, kind UNINDEXED, ref UNINDEXED, lang UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2'
    );

    CREATE TABLE admin_account (
        name    TEXT PRIMARY KEY,
        hash    BLOB NOT NULL,
        salt    BLOB NOT NULL,
        params  TEXT NOT NULL   -- scrypt n, r, p as 'n:r:p'
    ) WITHOUT ROWID;
    """,
    # 1: FTS5 cannot index its UNINDEXED columns, so deleting an entry by (kind, ref) scanned
    # the whole table (5 ms per page at 10,000 pages, quadratic in a rebuild).  Each entry
    # now has a row here whose rowid is the FTS rowid; the index is rebuilt at next start.
    """
    CREATE TABLE search_entry (
        kind TEXT NOT NULL,
        ref  TEXT NOT NULL,
        UNIQUE (kind, ref)
    );
    DELETE FROM portal_search;
    DELETE FROM wiki_state;
    """,
]
