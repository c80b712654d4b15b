"""A real aiohttp server on loopback with the portal mounted and a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from captive.http import ACCEPTED, CaptiveConfig, answer_before_routing, setup_captive
from captive.schema import MIGRATIONS

CONFIG = CaptiveConfig(
    box_name="Booture des Tilleuls",
    portal_host="booture.lan",
    box_hosts=frozenset({"booture.lan", "127.0.0.1"}),
    acceptance_seconds=3600,
    probe_rate=5,
    probe_burst=30,
    secret=b"k" * 32,
)


async def open_db(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    async with conn.execute("SELECT count(*) FROM sqlite_master") as cur:
        empty = (await cur.fetchone())[0] == 0  # type: ignore[index]
    if empty:
        for sql in MIGRATIONS:
            await conn.executescript(sql)
    return conn


def portal_app(conn: aiosqlite.Connection, config: CaptiveConfig = CONFIG) -> web.Application:
    app = web.Application()
    setup_captive(app, config, lambda: conn)

    async def site_page(request: web.Request) -> web.Response:
        return web.Response(text=f"site accepted={request[ACCEPTED]}")

    app.router.add_get("/lecons", site_page)
    return app


# The portal sorts requests in two places (see captive/http.py): every test runs
# against both, so the daemon's front door and the plain middleware cannot drift apart.
@pytest.fixture(params=["front door", "middleware only"])
async def portal(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[TestServer, ClientSession]]:
    conn = await open_db(tmp_path / "portal.sqlite3")
    server = TestServer(portal_app(conn), host="127.0.0.1")
    await server.start_server()
    if request.param == "front door":
        assert server.runner is not None
        answer_before_routing(server.runner)  # no connection is open yet
    async with ClientSession() as session:
        yield server, session
    await server.close()
    await conn.close()


Url = Callable[[str], str]
