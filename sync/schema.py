"""SQLite schema of the sync engine, as numbered migrations.

The daemon applies every library's MIGRATIONS at start (index = migration number, each an
SQL script run with executescript); tests do the same.  Never edit a released entry:
append a new one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 0: change log (sealed segments, byte for byte as signed), materialised documents,
    # per-origin chain state, application order, equivocation evidence.
    """
    CREATE TABLE sync_origin (
        origin     TEXT PRIMARY KEY,
        applied    INTEGER NOT NULL,  -- highest seq whose ops are in sync_document
        head       BLOB NOT NULL,     -- chain hash after the last stored segment
        sealed_hlc INTEGER NOT NULL,  -- clock of the last change of the last stored segment
        last_hlc   INTEGER NOT NULL   -- clock of the last applied change
    ) WITHOUT ROWID;

    CREATE TABLE sync_segment (
        origin    TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL,
        head      BLOB NOT NULL,      -- chain hash after this segment (saves re-hashing on load)
        data      BLOB NOT NULL,      -- the signed segment exactly as on the wire
        PRIMARY KEY (origin, first_seq)
    ) WITHOUT ROWID;

    CREATE TABLE sync_document (
        name  TEXT PRIMARY KEY,
        type  TEXT NOT NULL,
        state BLOB NOT NULL           -- Document.encode_state(), tombstones included
    ) WITHOUT ROWID;

    CREATE TABLE sync_order (         -- runs of consecutive changes in application order
        pos       INTEGER PRIMARY KEY,
        origin    TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq  INTEGER NOT NULL
    );

    CREATE TABLE sync_evidence (      -- two signed segments disagreeing on (origin, seq)
        id       INTEGER PRIMARY KEY,
        origin   TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        kept     BLOB NOT NULL,
        rejected BLOB NOT NULL,
        UNIQUE (origin, seq, rejected)
    );

    CREATE TABLE sync_meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    """,
    # 1: document states are stored lazily.  `as_of` is the number of changes (in
    # application order, see sync_order) the state includes; changes from
    # sync_meta.replay_from on are replayed at load for the documents they touch.
    """
    ALTER TABLE sync_document ADD COLUMN as_of INTEGER NOT NULL DEFAULT 0;
    """,
]
