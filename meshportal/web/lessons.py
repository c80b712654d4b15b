"""The home page and the lessons of the content packs, listed by step and read one by one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from captive.http import ACCEPTED, ENTER_FORM
from captive.pages import enter_form
from meshportal.packs import Lesson, Pack
from meshportal.web.i18n import choose_language, translations
from meshportal.web.markup import render_markdown
from meshportal.web.page_store import PageStore, page_key
from meshportal.web.render import (
    BOX_NAME_KEY,
    CACHE_FOLDER,
    PAGES,
    PageCache,
    render,
    render_html,
    respond,
)

__all__ = ["PACKS", "default_content_dir", "home", "lesson_url", "setup_lessons"]

PACKS = web.AppKey("packs", list[Pack])

# The four steps a collective goes through, in the order they are shown.  A pack may use
# other themes: they follow, under their own name.
_STEPS = ("sensibilisation", "diagnostic", "deploiement", "faire-vivre")


def _step_label(lang: str, theme: str) -> str:
    _ = translations(lang).gettext
    labels = {
        "sensibilisation": _("Awareness"),
        "diagnostic": _("Diagnosis"),
        "deploiement": _("Deployment"),
        "faire-vivre": _("Running it together"),
    }
    return labels.get(theme, theme)


@dataclass(frozen=True)
class _Link:
    url: str
    title: str
    summary: str
    reading_time: int


def lesson_url(lesson: Lesson) -> str:
    return f"/lecons/{lesson.pack}/{lesson.slug}"


def _link(lesson: Lesson) -> _Link:
    return _Link(lesson_url(lesson), lesson.title, lesson.summary, lesson.reading_time)


def _pack_view(pack: Pack, lang: str) -> dict[str, Any]:
    lessons = pack.in_language(lang)
    themes = list(_STEPS) + sorted({x.theme for x in lessons} - set(_STEPS))
    grouped = [
        {
            "label": _step_label(lang, theme),
            "lessons": [_link(x) for x in lessons if x.theme == theme],
        }
        for theme in themes
    ]
    return {
        "title": pack.title.get(lang) or next(iter(pack.title.values()), pack.name),
        "themes": [g for g in grouped if g["lessons"]],
    }


# Where a visitor's own Enter form goes in the cached home page: escaped text can never
# contain it, so the replacement only ever hits the slot.
_FORM_SLOT = "<!--enter-form-->"


async def home(request: web.Request) -> web.Response:
    lang = choose_language(request)
    entering = request.get(ACCEPTED) is False
    key = ("home", lang, entering)
    cache = request.app[PAGES]
    html = cache.get(key)
    if html is None:
        html = cache.put(key, _home_html(request, lang, entering))
    if entering:
        # the form carries this visitor's token: the only part rendered per request
        fields = request[ENTER_FORM]
        html = html.replace(_FORM_SLOT, enter_form(fields["action"], fields["fields"]), 1)
    return respond(request, html, lang)


def _home_html(request: web.Request, lang: str, entering: bool) -> str:
    """The page a previous run stored, if made from the same lessons, name, language and
    code (no Jinja2 then: see page_store); else rendered, and stored for the next run."""
    packs = [_pack_view(pack, lang) for pack in request.app[PACKS]]
    folder = request.app.get(CACHE_FOLDER)
    store = PageStore(folder / "pages") if folder else None
    name = f"home-{lang}-{'enter' if entering else 'in'}"
    box_name = request.app.get(BOX_NAME_KEY, "")
    key = page_key(lang, name, box_name, request.path, repr(packs))
    html = store.get(name, key) if store else None
    if html is None:
        slot = Markup(_FORM_SLOT) if entering else None  # noqa: S704 - our constant
        html = render_html(request, "home.html", lang, packs=packs, enter_form=slot)
        if store:
            store.put(name, key, html)
    return html


async def lesson_page(request: web.Request) -> web.Response:
    lang = choose_language(request)
    pack = next((p for p in request.app[PACKS] if p.name == request.match_info["pack"]), None)
    lessons = pack.in_language(lang) if pack else []
    index = next((i for i, x in enumerate(lessons) if x.slug == request.match_info["slug"]), -1)
    if index < 0:
        _ = translations(lang).gettext
        return render(request, "message.html", status=404, lang=lang, heading=_("No such lesson."))
    key = ("lesson", lang, request.path)
    cache = request.app[PAGES]
    html = cache.get(key)
    if html is None:
        lesson = lessons[index]
        html = cache.put(
            key,
            render_html(
                request,
                "lesson.html",
                lang,
                lesson=lesson,
                body=Markup(render_markdown(lesson.body)),  # noqa: S704 - sanitised by nh3
                previous=_link(lessons[index - 1]) if index > 0 else None,
                next=_link(lessons[index + 1]) if index + 1 < len(lessons) else None,
            ),
        )
    return respond(request, html, lang)


async def pack_media(request: web.Request) -> web.StreamResponse:
    pack = next((p for p in request.app[PACKS] if p.name == request.match_info["pack"]), None)
    if pack is None:
        raise web.HTTPNotFound()
    root = pack.path.resolve()
    target = (root / request.match_info["name"]).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix == ".md":
        raise web.HTTPNotFound()
    return web.FileResponse(target, headers={"Cache-Control": "public, max-age=86400"})


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        Path(__file__).resolve().parent / "static" / "style.css",
        headers={"Cache-Control": "public, max-age=86400", "Content-Type": "text/css"},
    )


def setup_lessons(app: web.Application, packs: list[Pack], box_name: str) -> None:
    app[PACKS] = packs
    app[BOX_NAME_KEY] = box_name
    app[PAGES] = PageCache()
    app.router.add_get("/static/style.css", stylesheet)
    app.router.add_get("/lecons/{pack}/{slug:[a-z0-9-]+}", lesson_page)
    # Images sit beside the lessons, so Markdown's relative links just work.
    app.router.add_get("/lecons/{pack}/{name:.+[.][A-Za-z0-9]+}", pack_media)


def default_content_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "content"
