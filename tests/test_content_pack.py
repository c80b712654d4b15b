"""The default content pack: every lesson exists in French and English, each with at
least 300 words of body text (front matter excluded), under the four steps."""

from __future__ import annotations

import re
from pathlib import Path

from meshportal.packs import load_packs

CONTENT = Path(__file__).resolve().parents[1] / "content"
STEPS = {"sensibilisation", "diagnostic", "deploiement", "faire-vivre"}
MIN_WORDS = 300
# A word is a run of letters/digits, with inner apostrophes or hyphens ("l'ont", "Wi-Fi").
_WORD = re.compile(r"\w+(?:['’-]\w+)*")


def _words(markdown: str) -> int:
    return len(_WORD.findall(markdown))


def test_default_pack_loads_without_errors() -> None:
    packs, errors = load_packs(CONTENT)
    assert errors == []
    assert "bienvenue" in {pack.name for pack in packs}


def test_every_lesson_has_both_languages_and_enough_words() -> None:
    packs, _ = load_packs(CONTENT)
    pack = next(p for p in packs if p.name == "bienvenue")
    by_slug: dict[str, dict[str, int]] = {}
    for lesson in pack.lessons:
        by_slug.setdefault(lesson.slug, {})[lesson.language] = _words(lesson.body)
    print("\nlesson words (fr / en):")
    for slug, counts in sorted(by_slug.items()):
        print(f"  {slug:32} {counts.get('fr', 0):5} / {counts.get('en', 0):5}")
    for slug, counts in by_slug.items():
        assert set(counts) == {"fr", "en"}, f"{slug} lacks a language: {sorted(counts)}"
        for language, words in counts.items():
            assert words >= MIN_WORDS, f"{slug}.{language} has {words} words"


def test_at_least_eight_lessons_cover_the_four_steps() -> None:
    packs, _ = load_packs(CONTENT)
    pack = next(p for p in packs if p.name == "bienvenue")
    themes = {lesson.theme for lesson in pack.lessons}
    assert themes == STEPS, f"steps used: {sorted(themes)}"
    assert len({lesson.slug for lesson in pack.lessons}) >= 8


async def test_lesson_images_of_the_default_pack_are_served_with_their_type() -> None:
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer
    from yarl import URL

    from meshportal.web.lessons import setup_lessons

    packs, _ = load_packs(CONTENT)
    app = web.Application()
    setup_lessons(app, packs, "test")
    image = re.compile(r'<img src="(?P<src>[^"]+)"')
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as client:
        seen = 0
        for lesson in packs[0].lessons:
            page_url = server.make_url(
                f"/lecons/{lesson.pack}/{lesson.slug}?lang={lesson.language}"
            )
            async with client.get(page_url) as page:
                html = await page.text()
            for match in image.finditer(html):
                async with client.get(page_url.join(URL(match["src"]))) as media:
                    assert media.status == 200, match["src"]
                    assert media.content_type == "image/svg+xml"
                    assert media.headers["Cache-Control"].startswith("public")
                seen += 1
        assert seen >= 1, "at least one lesson of the default pack uses an image"


async def test_home_groups_the_lessons_by_step_in_each_language() -> None:
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer

    from meshportal.web.lessons import home, setup_lessons

    packs, _ = load_packs(CONTENT)
    app = web.Application()
    setup_lessons(app, packs, "Booture")
    app.router.add_get("/", home)
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as client:
        async with client.get(server.make_url("/?lang=fr")) as response:
            french = await response.text()
        async with client.get(server.make_url("/?lang=en")) as response:
            english = await response.text()
    order = ["Prendre conscience", "Faire le diagnostic", "Déployer", "Faire vivre ensemble"]
    assert [french.index(f"<h3>{label}</h3>") for label in order] == sorted(
        french.index(f"<h3>{label}</h3>") for label in order
    )
    for label in ("Awareness", "Diagnosis", "Deployment", "Running it together"):
        assert f"<h3>{label}</h3>" in english
    sizes = f"fr {len(french.encode())}, en {len(english.encode())}"
    print(f"\nhome page bytes (uncompressed): {sizes}")
