"""Turning a template into a response: language, security headers, the remembered choice.

Jinja2 is imported on the first page rendered (an idle box keeps the memory), and the
templates it compiles are kept in the cache folder for the next run (template_cache);
the home page itself is kept there whole (page_store).  There is one environment per
language, each with its catalog installed, so rendering needs no per-request global state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from meshportal.web.i18n import LANG_COOKIE, LANGUAGES, choose_language, translations

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = [
    "CACHE_FOLDER",
    "PAGES",
    "SECURITY_HEADERS",
    "PageCache",
    "cache_folder",
    "environment",
    "render",
    "render_html",
    "respond",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Nothing is fetched from elsewhere and no script runs: the policy says so, so even an
# HTML injection we failed to sanitise could not load or run anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def cache_folder(data_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where compiled templates and stored pages are kept (all made again if lost):
    systemd's CacheDirectory= under the unit, else beside the data (a box run by hand)."""
    env = os.environ if env is None else env
    cache_dir = env.get("CACHE_DIRECTORY", "").split(":")[0]
    return Path(cache_dir) if cache_dir else data_dir / "cache"


@cache
def environment(lang: str, compiled: Path | None = None) -> Environment:
    """The environment of one language; with a `compiled` folder, templates compiled by
    an earlier run are loaded from there instead of compiled again."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from meshportal.web.template_cache import bytecode_cache

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # templates ship with the code: never stat them on each render
        auto_reload=False,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    if compiled is not None:
        env.bytecode_cache = bytecode_cache(compiled, env)
    env.globals["lang"] = lang
    env.globals["other_lang"] = "en" if lang == "fr" else "fr"
    return env


def render_html(request: web.Request, template: str, lang: str, **context: Any) -> str:
    cached: Path | None = request.app.get(CACHE_FOLDER)
    return (
        environment(lang, cached / "templates" if cached else None)
        .get_template(template)
        .render(request_path=request.path, box_name=request.app.get(BOX_NAME_KEY, ""), **context)
    )


def respond(request: web.Request, html: str, lang: str, status: int = 200) -> web.Response:
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers.update(SECURITY_HEADERS)
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="Lax"
        )
    return response


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    lang = context.pop("lang", None) or choose_language(request)
    return respond(request, render_html(request, template, lang, **context), lang, status)


class PageCache:
    """Whole rendered pages that are the same for every visitor (a lesson, a wiki page
    seen by a visitor), keyed by what they depend on.  Templates cost more than the rest
    of a page view together; a box serving a class of thirty phones renders each once."""

    def __init__(self, size: int = 256) -> None:
        self._pages: dict[tuple[Any, ...], str] = {}
        self._size = size

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> str:
        self._pages[key] = html
        while len(self._pages) > self._size:
            del self._pages[next(iter(self._pages))]  # oldest first
        return html

    def clear(self) -> None:
        self._pages.clear()


PAGES = web.AppKey("page_cache", PageCache)


BOX_NAME_KEY = web.AppKey("box_name", str)
CACHE_FOLDER = web.AppKey("cache_folder", Path)
