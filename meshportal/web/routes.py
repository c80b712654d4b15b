"""Which address runs which view, for the wiki, search and moderation pages.

Routes are registered at start, but their view modules (and the wiki service, Jinja2
and Markdown behind them) are imported by the first request that reaches one: a box
that has only been started, or only shows lessons, never pays for them.  Each route
names its view as "module:function"; a test imports every one of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["MAX_FILE", "ROUTES", "lazy_view", "setup_views"]

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_FILE = web.AppKey("max_file", int)

_SLUG = "{slug:[a-z0-9][a-z0-9-]{0,79}}"
_WIKI = "meshportal.web.wiki_views"
_ADMIN = "meshportal.web.admin_views"

# (method, path, view)
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/wiki", f"{_WIKI}:wiki_index"),
    ("GET", "/wiki/modifications", f"{_WIKI}:recent_changes"),
    ("GET", "/wiki/nouvelle", f"{_WIKI}:new_page_form"),
    ("POST", "/wiki/nouvelle", f"{_WIKI}:save_page"),
    ("GET", f"/wiki/{_SLUG}", f"{_WIKI}:show_page"),
    ("GET", f"/wiki/{_SLUG}/modifier", f"{_WIKI}:edit_form"),
    ("POST", f"/wiki/{_SLUG}/modifier", f"{_WIKI}:save_page"),
    ("GET", f"/wiki/{_SLUG}/historique", f"{_WIKI}:history"),
    ("GET", f"/wiki/{_SLUG}/version/{{rev}}", f"{_WIKI}:show_revision"),
    ("GET", f"/wiki/{_SLUG}/diff", f"{_WIKI}:diff"),
    ("POST", f"/wiki/{_SLUG}/restaurer", f"{_WIKI}:restore"),
    ("GET", f"/wiki/{_SLUG}/renommer", f"{_WIKI}:rename_form"),
    ("POST", f"/wiki/{_SLUG}/renommer", f"{_WIKI}:rename"),
    ("GET", f"/wiki/{_SLUG}/fichiers", f"{_WIKI}:upload_form"),
    ("POST", f"/wiki/{_SLUG}/fichiers", f"{_WIKI}:upload"),
    ("GET", "/fichiers/{digest}/{name}", f"{_WIKI}:serve_file"),
    ("GET", "/recherche", "meshportal.web.search_views:search"),
    ("GET", "/admin", f"{_ADMIN}:login_form"),
    ("POST", "/admin/connexion", f"{_ADMIN}:login"),
    ("POST", "/admin/deconnexion", f"{_ADMIN}:logout"),
    ("POST", f"/wiki/{_SLUG}/moderer", f"{_ADMIN}:moderate"),
)


def lazy_view(target: str) -> View:
    """A handler that imports `target` ("module:function") on its first call."""
    module_name, _, name = target.partition(":")
    found: list[View] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if not found:
            found.append(getattr(importlib.import_module(module_name), name))
        return await found[0](request)

    handler.__name__ = handler.__qualname__ = name
    return handler


def setup_views(app: web.Application, max_file_bytes: int) -> None:
    app[MAX_FILE] = max_file_bytes
    for method, path, target in ROUTES:
        if method == "GET":
            app.router.add_get(path, lazy_view(target))  # and HEAD, as aiohttp does
        else:
            app.router.add_route(method, path, lazy_view(target))
