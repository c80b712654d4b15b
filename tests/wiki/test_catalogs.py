"""The gettext catalogs: complete in French, compiled files current, nothing left out,
and `make catalogs` run again changes no byte of them."""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_making_the_catalogs_again_changes_no_byte(tmp_path: Path) -> None:
    """`make catalogs` on a copy of the committed catalogs: the same .pot, .po and .mo.

    A date written at each run, or a stale catalog, would show here (and as a change in
    git after every run).
    """
    if shutil.which("make") is None:
        pytest.skip("needs make")
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy)
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", f"{bin_dir}/meshportal", "catalogs",
         f"LOCALE={copy}", f"BIN={bin_dir}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "TZ": "Asia/Tokyo"},  # a date would show in any time zone
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    committed = sorted(p.relative_to(LOCALE_DIR) for p in LOCALE_DIR.rglob("*") if p.is_file())
    made = sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())
    assert made == committed
    changed = [
        str(n) for n in committed if (copy / n).read_bytes() != (LOCALE_DIR / n).read_bytes()
    ]
    assert changed == [], "run `make catalogs` and commit what it changes"
