"""The home page kept on disk across restarts: served again only while nothing it was
made from changed (real daemons on loopback, real files)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from meshportal.web.page_store import PageStore, page_key
from tests.conftest import start_daemon
from tests.test_lessons_web import fetch
from tests.test_packs import GOOD, make_pack


def _home(data: Path, content: Path, *flags: str) -> str:
    """The home page of a freshly started daemon, less the visitor's own form token."""
    daemon = start_daemon(data, None, "--content-dir", str(content), *flags)
    try:
        status, page, _ = fetch(daemon, "/")
        assert status == 200
    finally:
        assert daemon.stop() == 0
        if daemon.process.stdout:
            daemon.process.stdout.close()
    return re.sub(r'value="[^"]{16,}"', 'value="token"', page)


def test_a_restart_serves_the_stored_home_page_until_what_it_shows_changes(
    tmp_path: Path,
) -> None:
    data, content = tmp_path / "data", tmp_path / "content"
    make_pack(content, "premier", GOOD)
    first = _home(data, content)
    assert "/lecons/premier/lecon" in first
    stored = sorted((data / "cache" / "pages").iterdir())
    assert [p.name for p in stored] == ["home-fr-enter.html"]
    assert _home(data, content) == first
    # a new pack, then a new box name: the stored page is stale, never served
    make_pack(content, "second", GOOD.replace("Titre", "Autre titre"))
    with_second = _home(data, content)
    assert "/lecons/second/lecon" in with_second and "Autre titre" in with_second
    renamed = _home(data, content, "--box-name", "atelier-du-lundi")
    assert "atelier-du-lundi" in renamed and "atelier-du-lundi" not in with_second


def test_a_page_is_served_only_under_its_key_and_whole(tmp_path: Path) -> None:
    store = PageStore(tmp_path / "pages")
    key = page_key("fr", "home", "booture", "/", "[]")
    assert key != page_key("en", "home", "booture", "/", "[]")
    assert key != page_key("fr", "home", "autre", "/", "[]")
    assert store.get("home", key) is None
    store.put("home", key, "<p>Bienvenue</p>")
    assert store.get("home", key) == "<p>Bienvenue</p>"
    assert store.get("home", page_key("fr", "home", "autre", "/", "[]")) is None
    path = tmp_path / "pages" / "home.html"
    path.write_bytes(path.read_bytes()[:-4])  # cut short, as by a power cut
    assert store.get("home", key) is None
    path.write_bytes(b"")
    assert store.get("home", key) is None


def test_a_folder_that_cannot_be_written_costs_the_stored_page_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pages").write_text("a file where the folder should be")
    store = PageStore(tmp_path / "pages")
    with caplog.at_level(logging.WARNING, "meshportal.web"):
        store.put("home", "k", "<p>x</p>")
    assert "page home not kept" in caplog.text
    assert store.get("home", "k") is None
