"""The captive portal's tables, as numbered migrations the daemon applies at start."""

MIGRATIONS: list[str] = [
    # 1: who accepted, keyed by the client's address for its lease; no user agent, no
    #    history: only what answering the next probe needs.
    """
    CREATE TABLE captive_acceptances (
        ip TEXT PRIMARY KEY,
        mac TEXT,
        accepted_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX captive_acceptances_expiry ON captive_acceptances (expires_at);
    """,
]
