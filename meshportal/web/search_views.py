"""Search across lessons and the wiki (SQLite FTS5, accents ignored, ranked, highlighted)."""

from __future__ import annotations

from aiohttp import web

from meshportal.web.render import render
from meshportal.web.wiki_views import WIKI

__all__ = ["setup_search"]


async def search(request: web.Request) -> web.Response:
    query = request.query.get("q", "")[:200]
    hits = await request.app[WIKI].search(query) if query.strip() else []
    pages = {p.pid: p.slug for p in await request.app[WIKI].pages()} if hits else {}
    results = []
    for hit in hits:
        if hit.kind == "wiki":
            if hit.ref not in pages:
                continue
            url = f"/wiki/{pages[hit.ref]}"
        else:
            url = hit.ref
        results.append(
            {"url": url, "title": hit.title, "parts": hit.snippet_parts, "kind": hit.kind}
        )
    return render(request, "search.html", query=query, results=results)


def setup_search(app: web.Application) -> None:
    app.router.add_get("/recherche", search)
