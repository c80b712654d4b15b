"""A whole portal app (real SQLite file, real loopback socket) for HTTP tests of the wiki."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from meshportal.app import create_app
from meshportal.identity import create_or_load
from meshportal.sdnotify import Notifier
from meshportal.settings import load_settings

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_BASE = re.compile(r'name="base" value="([^"]*)"')


@dataclass
class Portal:
    server: TestServer
    client: aiohttp.ClientSession
    data: Path

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.client.get(self.url(path), allow_redirects=True, **kw) as response:
            return response.status, await response.text()

    async def post(self, path: str, data: Any, **kw: Any) -> tuple[int, str, str]:
        """(status, body, final URL) after following redirects."""
        async with self.client.post(self.url(path), data=data, **kw) as response:
            return response.status, await response.text(), str(response.url)

    async def form(self, path: str) -> tuple[str, str]:
        """The CSRF token and base revision of the form at `path`."""
        status, html = await self.get(path)
        assert status == 200, (path, status)
        csrf = _CSRF.search(html)
        base = _BASE.search(html)
        assert csrf is not None
        return csrf.group(1), base.group(1) if base else ""

    async def create(self, title: str, text: str) -> str:
        csrf, _ = await self.form("/wiki/nouvelle")
        status, _body, url = await self.post(
            "/wiki/nouvelle", {"csrf": csrf, "title": title, "text": text, "action": "save"}
        )
        assert status == 200, _body
        return url.rsplit("/", 1)[1].split("?")[0]

    async def edit(self, slug: str, text: str, **extra: str) -> tuple[int, str, str]:
        csrf, base = await self.form(f"/wiki/{slug}/modifier")
        fields = {"csrf": csrf, "base": base, "text": text, "action": "save", **extra}
        return await self.post(f"/wiki/{slug}/modifier", fields)


def make_settings(data: Path, **overrides: Any) -> Any:
    flags = {"data": str(data), "discovery": False, "sync_port": 0, "host": "127.0.0.1"}
    flags.update(overrides)
    return load_settings(env={}, flags=flags)


@pytest.fixture
async def portal(tmp_path: Path) -> AsyncIterator[Portal]:
    data = tmp_path / "data"
    data.mkdir()
    identity, _ = create_or_load(data)
    app = create_app(make_settings(data), identity, Notifier({}))
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1 too
        ) as client,
    ):
        yield Portal(server, client, data)
