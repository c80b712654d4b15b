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


def test_lessons_use_the_four_steps() -> None:
    packs, _ = load_packs(CONTENT)
    pack = next(p for p in packs if p.name == "bienvenue")
    assert {lesson.theme for lesson in pack.lessons} <= STEPS
