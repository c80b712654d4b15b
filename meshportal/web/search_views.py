"""Search across lessons and the wiki (SQLite FTS5, accents ignored, ranked, highlighted)."""

from __future__ import annotations

from aiohttp import web

from meshportal.web.i18n import choose_language
from meshportal.web.render import PAGES, render_html, respond
from meshportal.web.wiki_views import box_wiki

__all__: list[str] = []


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")[:200]
    wiki = box_wiki(request)
    lang = choose_language(request)
    # the same words give the same page until the next commit or content reload
    key = ("search", lang, query, wiki.generation)
    cache = request.app[PAGES]
    html = cache.get(key)
    if html is None:
        hits = await wiki.search(query) if query.strip() else []
        results = [
            {"url": hit.url, "title": hit.title, "parts": hit.snippet_parts, "kind": hit.kind}
            for hit in hits
        ]
        html = cache.put(
            key, render_html(request, "search.html", lang, query=query, results=results)
        )
    return respond(request, html, lang)
