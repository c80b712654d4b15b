"""The portal on a real loopback server: before accepting, the form, after accepting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from captive.http import Handler, answer_before_routing
from captive.probes import PROBES
from tests.captive.conftest import CONFIG, open_db, portal_app

Portal = tuple[TestServer, ClientSession]


def url(server: TestServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def get(portal: Portal, host: str, path: str, **headers: str):  # type: ignore[no-untyped-def]
    server, session = portal
    return await session.get(
        url(server, path), headers={"Host": host, **headers}, allow_redirects=False
    )


async def accept(portal: Portal) -> None:
    server, session = portal
    page = await (await get(portal, "booture.lan", "/")).text()
    token = re.search(r'name="jeton" value="([^"]+)"', page)
    assert token, page
    response = await session.post(
        url(server, "/captive/enter"),
        data={"jeton": token.group(1)},
        headers={"Host": "booture.lan"},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/captive/ok"


PROBE_REQUESTS = [(host, path or "/hotspot-detect.html") for host, path in PROBES]


@pytest.mark.parametrize(("host", "path"), PROBE_REQUESTS)
async def test_probes_before_and_after_accepting(portal: Portal, host: str, path: str) -> None:
    before = await get(portal, host, path)
    assert before.status == 302
    assert before.headers["Location"] == "http://booture.lan/"
    assert len(await before.read()) > 4
    await accept(portal)
    after = await get(portal, host, path)
    assert after.status in (200, 204)
    body = await after.read()
    if after.status == 204:
        assert body == b""
    else:
        assert body  # exact bytes per system are checked in test_probes


async def test_welcome_page_and_confirmation(portal: Portal) -> None:
    response = await get(portal, "booture.lan", "/")
    page = await response.text()
    assert response.status == 200 and "Entrer" in page and "Enter" in page
    assert "<script" not in page and "http" not in page.split("<main>")[0]
    await accept(portal)
    server, session = portal
    done = await session.get(url(server, "/captive/ok"), headers={"Host": "booture.lan"})
    text = await done.text()
    assert "http://booture.lan/" in text
    assert "données mobiles" in text and "mobile data" in text
    assert len(await done.read()) < 4096


async def test_foreign_hosts_and_addresses_go_to_the_portal(portal: Portal) -> None:
    for host in ("www.example.org", "198.51.100.7", "www.msftconnecttest.com"):
        response = await get(portal, host, "/redirect")
        assert response.status == 302 and response.headers["Location"] == "http://booture.lan/"


async def test_site_pages_know_whether_the_client_accepted(portal: Portal) -> None:
    assert await (await get(portal, "booture.lan", "/lecons")).text() == "site accepted=False"
    await accept(portal)
    assert await (await get(portal, "booture.lan", "/lecons")).text() == "site accepted=True"


async def test_form_without_valid_token_is_refused(portal: Portal) -> None:
    server, session = portal
    for data in ({}, {"jeton": "forged"}, {"jeton": "x" * 30}):
        response = await session.post(
            url(server, "/captive/enter"),
            data=data,
            headers={"Host": "booture.lan"},
            allow_redirects=False,
        )
        assert response.status == 403
        assert "expiré" in await response.text()
    probe = await get(portal, "connectivitycheck.gstatic.com", "/generate_204")
    assert probe.status == 302


async def test_api_rfc8908(portal: Portal) -> None:
    response = await get(portal, "booture.lan", "/api/captive")
    assert response.headers["Content-Type"] == "application/captive+json"
    body = await response.read()
    assert len(body) <= 4096
    assert json.loads(body) == {
        "captive": True,
        "user-portal-url": "http://booture.lan/",
        "venue-info-url": "http://booture.lan/",
    }
    await accept(portal)
    after = json.loads(await (await get(portal, "booture.lan", "/api/captive")).read())
    assert after["captive"] is False and 3500 < after["seconds-remaining"] <= 3600


async def test_spoofed_forwarding_headers_are_ignored(portal: Portal) -> None:
    await accept(portal)  # accepted as 127.0.0.1, the real peer
    spoofed = await get(
        portal,
        "captive.apple.com",
        "/hotspot-detect.html",
        **{"X-Forwarded-For": "10.0.0.66", "Forwarded": "for=10.0.0.66", "X-Real-IP": "10.0.0.66"},
    )
    assert spoofed.status == 200  # still judged as 127.0.0.1


async def test_probe_flood_is_limited_but_never_the_welcome_page(portal: Portal) -> None:
    statuses = [
        (await get(portal, "connectivitycheck.gstatic.com", "/generate_204")).status
        for _ in range(60)
    ]
    assert 429 in statuses and statuses[0] == 302
    for _ in range(20):
        assert (await get(portal, "booture.lan", "/")).status == 200


async def test_huge_headers_and_traversal_get_clean_answers(portal: Portal) -> None:
    huge = await get(portal, "booture.lan", "/", **{"X-Big": "a" * 20_000})
    assert huge.status in (400, 431)
    traversal = await get(portal, "booture.lan", "/../../etc/passwd")
    assert traversal.status == 404
    foreign_traversal = await get(portal, "x.org", "/%2e%2e/%2e%2e/etc/passwd")
    assert foreign_traversal.status == 302
    absurd = await get(portal, "a" * 4000, "/")
    assert absurd.status == 302 and absurd.headers["Location"] == "http://booture.lan/"
    # the server is still up and well
    assert (await get(portal, "booture.lan", "/")).status == 200


async def test_acceptance_survives_a_restart_and_expires(tmp_path: Path) -> None:
    db = tmp_path / "portal.sqlite3"
    for round_ in range(2):
        conn = await open_db(db)
        server = TestServer(portal_app(conn), host="127.0.0.1")
        await server.start_server()
        async with ClientSession() as session:
            portal = (server, session)
            probe = await get(portal, "www.msftconnecttest.com", "/connecttest.txt")
            if round_ == 0:
                assert probe.status == 302
                await accept(portal)
            else:
                assert probe.status == 200 and await probe.text() == "Microsoft Connect Test"
        await server.close()
        await conn.close()
    # a lifetime already over: the next daemon does not count it
    conn = await open_db(db)
    await conn.execute("UPDATE captive_acceptances SET expires_at = 0")
    server = TestServer(portal_app(conn), host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as session:
        probe = await get((server, session), "www.msftconnecttest.com", "/connecttest.txt")
        assert probe.status == 302
    await server.close()
    await conn.close()
    assert CONFIG.acceptance_seconds == 3600


async def test_front_door_answers_outsiders_before_any_route_or_middleware(
    tmp_path: Path,
) -> None:
    """With answer_before_routing, probes and foreign hosts never reach the application;
    requests for the box still go through its middlewares and routes."""
    conn = await open_db(tmp_path / "portal.sqlite3")
    app = portal_app(conn)
    reached: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        reached.append(request.host)
        return await handler(request)

    app.middlewares.insert(0, count)  # outermost: it sees whatever reaches the app
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert server.runner is not None
        answer_before_routing(server.runner)
        async with ClientSession() as session:
            portal = (server, session)
            probe = ("connectivitycheck.gstatic.com", "/generate_204")
            assert (await get(portal, *probe)).status == 302
            assert (await get(portal, "example.org", "/lecons")).status == 302
            assert reached == []
            await accept(portal)  # the welcome page and the form: the box's own
            assert (await get(portal, *probe)).status == 204
            page = await get(portal, "booture.lan", "/lecons")
            assert await page.text() == "site accepted=True"
        assert reached == ["booture.lan"] * 3
    finally:
        await server.close()
        await conn.close()
