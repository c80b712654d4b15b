"""What a visitor does, in a real Chromium, in French and in English, with JavaScript OFF.

Every flow runs in a context with JavaScript disabled: the issue asks that every feature
works without it.  Each step is screenshotted at 360 px and 1280 px (tests/artifacts/portal/).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Daemon
from tests.portal.conftest import new_context, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A few strings per language, straight from the catalogs' intent: the page must really be
# in the visitor's language, not just carry lang="...".
STRINGS = {
    "fr": {
        "next": "Suivante",
        "previous": "Précédente",
        "save": "Enregistrer",
        "preview": "Aperçu",
        "history": "Historique",
        "old": "Vous lisez une ancienne version",
        "merged": "Quelqu’un d’autre a enregistré cette page",
        "lesson": "leçon",
    },
    "en": {
        "next": "Next",
        "previous": "Previous",
        "save": "Save",
        "preview": "Preview",
        "history": "History",
        "old": "You are reading an old version",
        "merged": "Someone else saved this page while you were editing",
        "lesson": "lesson",
    },
}
LANGS = pytest.mark.parametrize("lang", ["fr", "en"])


def visitor(browser: Browser, lang: str) -> Page:
    context = new_context(browser, lang, java_script_enabled=False)
    return context.new_page()


def assert_language(page: Page, lang: str) -> None:
    assert page.locator("html").get_attribute("lang") == lang


def create_page(page: Page, base: str, title: str, text: str) -> str:
    """Create a wiki page through the form; return its address."""
    page.goto(base + "/wiki/nouvelle")
    page.fill("#title", title)
    page.fill("#text", text)
    page.click("button[value=save]")
    assert re.search(r"/wiki/[a-z0-9-]+$", page.url), page.url
    return page.url


@LANGS
def test_read_a_lesson_then_next_and_previous(browser: Browser, portal: Daemon, lang: str) -> None:
    page = visitor(browser, lang)
    words = STRINGS[lang]
    page.goto(portal.url + "/")
    assert_language(page, lang)
    shoot(page, f"{lang}-01-home")

    first = page.locator("main a[href^='/lecons/']").first
    title = first.inner_text()
    first.click()
    assert "/lecons/bienvenue/" in page.url
    assert page.locator("article h1").inner_text() == title
    assert page.locator("article p").count() >= 3, "a lesson has paragraphs of text"
    first_url = page.url
    shoot(page, f"{lang}-02-lesson")

    following = page.locator("a[rel=next]")
    assert words["next"] in following.inner_text()
    following.click()
    assert page.url != first_url and "/lecons/bienvenue/" in page.url
    assert page.locator("article h1").inner_text() != title
    shoot(page, f"{lang}-03-lesson-next")

    back = page.locator("a[rel=prev]")
    assert words["previous"] in back.inner_text() and title in back.inner_text()
    back.click()
    assert page.url == first_url
    assert_language(page, lang)
    page.context.close()


@LANGS
def test_create_edit_with_preview_history_diff_restore(
    browser: Browser, portal: Daemon, lang: str
) -> None:
    page = visitor(browser, lang)
    words = STRINGS[lang]
    first_text = "Le jardin partagé ouvre le samedi.\n\nApportez des graines."
    second_text = "Le jardin partagé ouvre le dimanche.\n\nApportez des graines et des outils."
    address = create_page(page, portal.url, f"Jardin partagé {lang}", first_text)
    assert_language(page, lang)
    assert "samedi" in page.locator("article").inner_text()
    shoot(page, f"{lang}-10-page-created")

    page.click("a[href$='/modifier']")
    assert page.locator("#text").input_value() == first_text
    page.fill("#text", second_text)
    page.fill("#summary", "dimanche")
    preview_button = page.locator("button[value=preview]")
    assert preview_button.inner_text() == words["preview"]
    preview_button.click()
    # The preview shows the rendered text and keeps every field as typed.
    assert "dimanche" in page.locator("article.preview").inner_text()
    assert page.locator("#text").input_value() == second_text
    assert page.locator("#summary").input_value() == "dimanche"
    shoot(page, f"{lang}-11-edit-preview")
    save = page.locator("button[value=save]")
    assert save.inner_text() == words["save"]
    save.click()
    assert page.url == address
    assert "dimanche" in page.locator("article").inner_text()
    shoot(page, f"{lang}-12-page-edited")

    history = page.locator("a[href$='/historique']")
    assert history.inner_text() == words["history"]
    history.click()
    rows = page.locator("tbody tr")
    assert rows.count() == 2
    assert "dimanche" in rows.first.inner_text()  # the newest first, with its summary
    shoot(page, f"{lang}-13-history")
    # The two newest versions are preselected: compare them.
    page.click("form[action$='/diff'] button[type=submit]")
    assert "/diff?" in page.url
    assert "dimanche" in page.locator(".diff ins").all_inner_texts()[0]
    assert any("samedi" in t for t in page.locator(".diff del").all_inner_texts())
    shoot(page, f"{lang}-14-diff")

    page.go_back()
    page.locator("tbody tr").last.locator("a").click()
    assert "/version/" in page.url
    assert words["old"] in page.locator(".notice").inner_text()
    assert "samedi" in page.locator("article").inner_text()
    shoot(page, f"{lang}-15-old-version")
    page.click("form[action$='/restaurer'] button[type=submit]")
    assert page.url == address
    article = page.locator("article").inner_text()
    assert "samedi" in article and "dimanche" not in article
    shoot(page, f"{lang}-16-restored")
    page.click("a[href$='/historique']")
    assert page.locator("tbody tr").count() == 3, "a restore is a new version, not a rewind"
    page.context.close()


@LANGS
def test_search_with_and_without_accents(browser: Browser, portal: Daemon, lang: str) -> None:
    page = visitor(browser, lang)
    words = STRINGS[lang]
    wiki_page = create_page(
        page, portal.url, "Potager", "Un potager pour apprendre l’écologie au quotidien."
    )
    slug = wiki_page.rsplit("/", 1)[1]

    def search(query: str, from_home: bool = False) -> list[str]:
        page.goto(portal.url + ("/" if from_home else "/recherche"))
        page.fill("#q", query)
        page.press("#q", "Enter")  # the form's own submission: no script involved
        assert "/recherche?q=" in page.url
        assert_language(page, lang)
        return [a.get_attribute("href") or "" for a in page.locator("main ol li > a").all()]

    for number, query in enumerate(("ecologie", "écologie", "ÉCOLOGIE")):
        found = search(query, from_home=number == 0)
        assert f"/wiki/{slug}" in found, (query, found)
        assert page.locator("mark").first.inner_text().lower() in ("écologie", "l’écologie")
        shoot(page, f"{lang}-2{number}-search-{number}")

    # Lessons too: "numerique" finds the lesson on what "le numérique" costs.
    for query in ("numerique", "numérique"):
        found = search(query)
        lesson = "/lecons/bienvenue/ce-que-coute-le-numerique"
        assert any(f == lesson or f.startswith(lesson + "?") for f in found), (query, found)
        assert words["lesson"] in page.locator("main ol").inner_text()
    shoot(page, f"{lang}-23-search-lessons")

    assert search("zzzzqx") == []
    assert "zzzzqx" in page.locator("main").inner_text()
    page.context.close()


@LANGS
def test_two_visitors_editing_at_once_both_keep_their_text(
    browser: Browser, portal: Daemon, lang: str
) -> None:
    author = visitor(browser, lang)
    original = (
        "Réunion du collectif.\n\n"
        "Ordre du jour : le local.\n\n"
        "Prochaine date : à fixer.\n\n"
        "Fin de la note."
    )
    address = create_page(author, portal.url, "Réunion", original)
    author.context.close()

    alice, bob = visitor(browser, lang), visitor(browser, lang)
    # Both open the editor before either saves: same starting version.
    for who in (alice, bob):
        who.goto(address + "/modifier")
        assert who.locator("#text").input_value() == original
    alice.fill("#text", original.replace("le local.", "le local et le four à pain."))
    bob.fill("#text", original.replace("à fixer.", "le 12 mai."))
    shoot(alice, f"{lang}-30-alice-editing")
    shoot(bob, f"{lang}-31-bob-editing")

    alice.click("button[value=save]")
    assert alice.url == address, "the first save is a plain save"
    assert alice.locator(".notice").count() == 0
    bob.click("button[value=save]")
    assert bob.url == address + "?fusion=1"
    assert STRINGS[lang]["merged"] in bob.locator(".notice").inner_text()
    shoot(bob, f"{lang}-32-bob-merged")

    for who in (alice, bob):
        who.goto(address)
        text = who.locator("article").inner_text()
        assert "four à pain" in text and "12 mai" in who.locator("article").inner_text()
        assert "Réunion du collectif" in text and "Fin de la note" in text
    shoot(alice, f"{lang}-33-final")
    alice.goto(address + "/historique")
    assert alice.locator("tbody tr").count() == 3
    alice.context.close()
    bob.context.close()
