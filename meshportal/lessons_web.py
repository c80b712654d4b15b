"""The visitor's side of the box for now: the home page and the lessons, in French or English.

Light pages with no JavaScript and nothing fetched from elsewhere.  Markdown goes
through markdown-it-py, then nh3 (the ammonia sanitiser): content packs can come from
other boxes, so their HTML is never trusted.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from captive.http import ACCEPTED, ENTER_FORM
from captive.pages import enter_form
from meshportal.packs import Lesson, Pack

LANGUAGES = ("fr", "en")
PACKS = web.AppKey("packs", list[Pack])
BOX_NAME = web.AppKey("box_name", str)
_WORDS = {
    "fr": {"lessons": "Leçons", "minutes": "min de lecture", "previous": "Précédente",
           "next": "Suivante", "home": "Accueil", "other": "English", "lang_other": "en",
           "intro": "Des leçons courtes pour comprendre ce que le numérique coûte, où vont "
                    "nos données, et comment faire autrement, ensemble.",
           "missing": "Leçon introuvable."},
    "en": {"lessons": "Lessons", "minutes": "min read", "previous": "Previous",
           "next": "Next", "home": "Home", "other": "Français", "lang_other": "fr",
           "intro": "Short lessons to understand what digital tools cost, where our data "
                    "goes, and how to do otherwise, together.",
           "missing": "No such lesson."},
}  # fmt: skip
# The four steps a collective goes through, in the order they are shown.  A pack may
# use other themes: they follow, under their own name.
_STEPS = {
    "fr": {"sensibilisation": "Prendre conscience", "diagnostic": "Faire le diagnostic",
           "deploiement": "Déployer", "faire-vivre": "Faire vivre ensemble"},
    "en": {"sensibilisation": "Awareness", "diagnostic": "Diagnosis",
           "deploiement": "Deployment", "faire-vivre": "Running it together"},
}  # fmt: skip
_STYLE = (
    "body{font:1.05rem/1.55 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;"
    "color:#1d2b24;background:#fbfaf5}a{color:#1f5c3a}h1{color:#1f5c3a;line-height:1.2}"
    "nav{display:flex;justify-content:space-between;gap:1rem;margin:1.5rem 0}"
    "button{font:inherit;font-weight:700;padding:.8rem 2rem;border:0;border-radius:.5rem;"
    "background:#1f5c3a;color:#fff}li{margin:.4rem 0}small{color:#4b5a52}"
)


def language(request: web.Request) -> str:
    """?lang=…, then the remembered choice, then Accept-Language; French by default."""
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get("lang")
    if remembered in LANGUAGES:
        return remembered
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return "fr"


def _page(lang: str, title: str, body: str, request: web.Request) -> web.Response:
    words = _WORDS[lang]
    switch = (
        f'<a href="?lang={words["lang_other"]}" lang="{words["lang_other"]}">{words["other"]}</a>'
    )
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><a href="/">{words["home"]}</a> · {switch}</header>'
        f"<main>{body}</main></body></html>"
    )
    response = web.Response(text=html, content_type="text/html")
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
    return response


if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def _markdown() -> MarkdownIt:
    # Imported on the first lesson shown: an idle box keeps the 3 MB for itself.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def render_markdown(source: str) -> str:
    import nh3

    return nh3.clean(_markdown().render(source))


def _lesson_url(lesson: Lesson) -> str:
    return f"/lecons/{lesson.pack}/{lesson.slug}"


async def home(request: web.Request) -> web.Response:
    lang = language(request)
    words = _WORDS[lang]
    name = escape(request.app[BOX_NAME])
    parts = [f"<h1>{name}</h1><p>{words['intro']}</p>"]
    if request.get(ACCEPTED) is False:
        form = request[ENTER_FORM]
        parts.append(enter_form(form["action"], form["fields"]))
    for pack in request.app[PACKS]:
        title = pack.title.get(lang) or next(iter(pack.title.values()), pack.name)
        parts.append(f"<h2>{escape(title)}</h2>")
        lessons = pack.in_language(lang)
        steps = list(_STEPS[lang])
        themes = steps + sorted({x.theme for x in lessons} - set(steps))
        for theme in themes:
            items = "".join(
                f'<li><a href="{_lesson_url(lesson)}">{escape(lesson.title)}</a><br>'
                f"<small>{escape(lesson.summary)} · {lesson.reading_time} {words['minutes']}"
                "</small></li>"
                for lesson in lessons
                if lesson.theme == theme
            )
            if items:
                label = _STEPS[lang].get(theme, theme)
                parts.append(f"<h3>{escape(label)}</h3><ul>{items}</ul>")
    return _page(lang, request.app[BOX_NAME], "".join(parts), request)


async def lesson_page(request: web.Request) -> web.Response:
    lang = language(request)
    words = _WORDS[lang]
    pack = next((p for p in request.app[PACKS] if p.name == request.match_info["pack"]), None)
    lessons = pack.in_language(lang) if pack else []
    index = next((i for i, x in enumerate(lessons) if x.slug == request.match_info["slug"]), -1)
    if index < 0:
        response = _page(lang, words["missing"], f"<h1>{words['missing']}</h1>", request)
        response.set_status(404)
        return response
    lesson = lessons[index]
    nav = []
    if index > 0:
        nav.append(
            f'<a rel="prev" href="{_lesson_url(lessons[index - 1])}">← {words["previous"]}</a>'
        )
    if index + 1 < len(lessons):
        nav.append(f'<a rel="next" href="{_lesson_url(lessons[index + 1])}">{words["next"]} →</a>')
    body = (
        f'<article lang="{lesson.language}">{render_markdown(lesson.body)}</article>'
        f"<nav>{''.join(nav)}</nav>"
    )
    return _page(lang, lesson.title, body, request)


async def pack_media(request: web.Request) -> web.StreamResponse:
    pack = next((p for p in request.app[PACKS] if p.name == request.match_info["pack"]), None)
    if pack is None:
        raise web.HTTPNotFound()
    root = pack.path.resolve()
    target = (root / request.match_info["name"]).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix == ".md":
        raise web.HTTPNotFound()
    return web.FileResponse(target, headers={"Cache-Control": "public, max-age=86400"})


def setup_lessons(app: web.Application, packs: list[Pack], box_name: str) -> None:
    app[PACKS] = packs
    app[BOX_NAME] = box_name
    app.router.add_get("/lecons/{pack}/{slug:[a-z0-9-]+}", lesson_page)
    # Images sit beside the lessons, so Markdown's relative links just work.
    app.router.add_get("/lecons/{pack}/{name:.+[.][A-Za-z0-9]+}", pack_media)


def default_content_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "content"
