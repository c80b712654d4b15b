"""Languages: French first, English too.  Strings live in gettext catalogs (Babel).

Catalogs are compiled to .mo files and committed beside their .po sources
(`make catalogs` regenerates both; a test checks they agree), so the running box loads
them with the standard library alone and never imports Babel to serve a page.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from aiohttp import web

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_DIR", "choose_language", "translations"]

LANGUAGES = ("fr", "en")
DOMAIN = "meshportal"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANG_COOKIE = "lang"


def choose_language(request: web.Request) -> str:
    """?lang=…, then the remembered choice, then Accept-Language; French by default."""
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGUAGES:
        return remembered
    for part in request.headers.get("Accept-Language", "")[:200].split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return "fr"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)
