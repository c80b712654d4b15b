"""Admin accounts: a password set with `meshportal admin set-password`, hashed with
scrypt (memory-hard, from `cryptography`), and short sessions held in memory.

Sessions live in memory only: a restart signs admins out, which is the safe failure.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time

from aiohttp import web

from meshportal.store import Database

__all__ = ["ADMIN", "AdminSessions", "hash_password", "is_admin"]

# n=2**15, r=8: 32 MiB and about 0.1 s per attempt on this machine, a few times that on a
# Pi: cheap for one admin signing in, costly for anyone guessing offline.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SESSION_SECONDS = 4 * 3600
COOKIE = "admin"
MIN_PASSWORD = 10


def hash_password(password: str, salt: bytes, params: str) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    n, r, p = (int(x) for x in params.split(":"))
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def new_password_record(password: str) -> tuple[bytes, bytes, str]:
    """(hash, salt, params) for a new password; refuses passwords too short to be safe."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    params = f"{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"
    return hash_password(password, salt, params), salt, params


async def store_password(db: Database, name: str, record: tuple[bytes, bytes, str]) -> None:
    digest, salt, params = record
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR REPLACE INTO admin_account (name, hash, salt, params) VALUES (?, ?, ?, ?)",
            (name, digest, salt, params),
        )


class AdminSessions:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._sessions: dict[str, tuple[str, float]] = {}

    async def check_password(self, name: str, password: str) -> bool:
        async with self.db.reader.execute(
            "SELECT hash, salt, params FROM admin_account WHERE name = ?", (name,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            # same work as a real check, so timing does not tell which names exist
            await asyncio.to_thread(hash_password, password, b"0" * 16, "16384:8:1")
            return False
        digest, salt, params = row
        candidate = await asyncio.to_thread(hash_password, password, bytes(salt), str(params))
        return hmac.compare_digest(candidate, bytes(digest))

    def open(self, name: str) -> str:
        token = secrets.token_urlsafe(24)
        self._sessions[token] = (name, time.monotonic() + SESSION_SECONDS)
        return token

    def close(self, token: str) -> None:
        self._sessions.pop(token, None)

    def who(self, token: str) -> str | None:
        found = self._sessions.get(token)
        if found is None:
            return None
        name, expires = found
        if time.monotonic() > expires:
            del self._sessions[token]
            return None
        return name


ADMIN = web.AppKey("admin_sessions", AdminSessions)


def is_admin(request: web.Request) -> bool:
    return request.app[ADMIN].who(request.cookies.get(COOKIE, "")) is not None
