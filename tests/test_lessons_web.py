"""The home page and lessons through the real daemon on loopback."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import Daemon, start_daemon
from tests.test_packs import GOOD, make_pack


def fetch(daemon: Daemon, path: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(daemon.url + path, headers={"Host": "127.0.0.1", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode(), dict(answer.headers)


def test_home_lists_lessons_and_offers_enter(daemon: Daemon) -> None:
    status, page, _ = fetch(daemon, "/")
    assert status == 200 and 'lang="fr"' in page
    assert "Une boîte, pas un nuage" in page and "Entrer" in page
    assert "<script" not in page and "://" not in page.replace("http://www.w3.org", "")
    print(f"home page weight: {len(page.encode())} bytes")
    assert len(page.encode()) < 30_000


def test_lesson_in_both_languages_and_the_choice_is_remembered(daemon: Daemon) -> None:
    status, page, _ = fetch(daemon, "/lecons/bienvenue/une-boite-locale")
    assert status == 200 and "Une boîte, pas un nuage</h1>" in page
    status, page, headers = fetch(daemon, "/lecons/bienvenue/une-boite-locale?lang=en")
    assert status == 200 and "A box, not a cloud</h1>" in page
    assert "lang=en" in headers["Set-Cookie"]
    _, page, _ = fetch(daemon, "/", Cookie="lang=en")
    assert "A box, not a cloud" in page
    _, page, _ = fetch(daemon, "/", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in page
    assert fetch(daemon, "/lecons/bienvenue/nope")[0] == 404


def test_hostile_lesson_renders_inert_and_media_stays_in_the_pack(tmp_path: Path) -> None:
    hostile = GOOD.replace(
        "Texte",
        "<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n"
        "<img src=x onerror=alert(1)>\n\n<svg onload=alert(1)></svg>\n\n"
        '<a href="JaVaScRiPt:alert(1)">y</a>\n\nTexte',
    )
    content = tmp_path / "content"
    make_pack(content, "piege", hostile)
    daemon = start_daemon(tmp_path / "data", None, "--content-dir", str(content))
    try:
        status, page, _ = fetch(daemon, "/lecons/piege/lecon")
        assert status == 200
        for bad in ("<script", 'href="javascript', "onerror", "onload", "<svg"):
            assert bad not in page.lower()
        status, _, headers = fetch(daemon, "/lecons/piege/images/schema.svg")
        assert status == 200 and "svg" in headers["Content-Type"]
        assert fetch(daemon, "/lecons/piege/..%2F..%2Fdata%2Fidentity.key")[0] == 404
        assert fetch(daemon, "/lecons/piege/01-lecon.fr.md")[0] == 404
    finally:
        daemon.stop()
        assert daemon.process.stdout is not None
        daemon.process.stdout.close()
