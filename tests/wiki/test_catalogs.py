"""The gettext catalogs: complete in French, compiled files current, nothing left out."""

from __future__ import annotations

import gettext
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from meshportal.web.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
        return read_po(handle, locale=lang)


def test_every_string_has_a_french_translation() -> None:
    missing = [m.id for m in _catalog("fr") if m.id and not m.string]
    assert missing == []


def test_compiled_catalogs_match_their_sources() -> None:
    for lang in ("fr", "en"):
        with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
            mo = gettext.GNUTranslations(handle)
        for message in _catalog(lang):
            if message.id and message.string:
                assert mo.gettext(message.id) == message.string, (lang, message.id)


def test_no_string_in_code_or_templates_is_missing_from_the_catalog(tmp_path: Path) -> None:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract",
         "-F", str(LOCALE_DIR / "babel.cfg"), "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with open(pot, "rb") as handle:
        fresh = {m.id for m in read_po(handle) if m.id}
    known = {m.id for m in _catalog("fr") if m.id}
    assert fresh - known == set(), "run `make catalogs` and translate the new strings"
