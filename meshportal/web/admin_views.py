"""Moderators' side: sign in and out, hide or restore a page or a revision, lock a page,
pause editing from one device.  Every action is a change in the replica, so it reaches
the other boxes like an edit does; a device pause only applies on the box that set it."""

from __future__ import annotations

import time

from aiohttp import web

from captive.http import client_ip
from meshportal.web.admin_auth import ADMIN, COOKIE, is_admin
from meshportal.web.forms import FORMS, read_form
from meshportal.web.i18n import choose_language, translations
from meshportal.web.render import render
from meshportal.web.wiki_views import box_wiki

__all__: list[str] = []

_BLOCK_SECONDS = {"1h": 3600, "1d": 86400, "7d": 7 * 86400}


async def login_form(request: web.Request) -> web.Response:
    return render(
        request,
        "admin_login.html",
        csrf=request.app[FORMS].token(request),
        notice="",
        admin=is_admin(request),
    )


async def login(request: web.Request) -> web.Response:
    _ = translations(choose_language(request)).gettext
    guard = request.app[FORMS]
    form = await read_form(request)
    notice = ""
    if not guard.valid(request, form):
        notice = _("The form had expired: try again.")
    elif not guard.logins.allow(client_ip(request)):
        notice = _("Too many attempts: wait a few minutes.")
    elif await request.app[ADMIN].check_password(
        str(form.get("name", "admin")), str(form.get("password", ""))
    ):
        token = request.app[ADMIN].open(str(form.get("name", "admin")))
        response = web.HTTPSeeOther("/wiki/modifications")
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=4 * 3600)
        raise response
    else:
        notice = _("Wrong name or password.")
    return render(
        request,
        "admin_login.html",
        status=403,
        csrf=guard.token(request),
        notice=notice,
        admin=False,
    )


async def logout(request: web.Request) -> web.Response:
    form = await read_form(request)
    if request.app[FORMS].valid(request, form):
        request.app[ADMIN].close(request.cookies.get(COOKIE, ""))
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE)
    raise response


async def moderate(request: web.Request) -> web.Response:
    if not is_admin(request):
        raise web.HTTPForbidden(text="moderators only")
    form = await read_form(request)
    if not request.app[FORMS].valid(request, form):
        raise web.HTTPBadRequest(text="form expired")
    wiki = box_wiki(request)
    page = await wiki.find(request.match_info["slug"])
    if page is None:
        raise web.HTTPNotFound()
    action = str(form.get("action", ""))
    rev = str(form.get("rev", ""))
    back = f"/wiki/{page.slug}"
    if action in ("hide", "show"):
        await wiki.moderate(f"hide/{page.pid}", action == "hide")
    elif action in ("lock", "unlock"):
        await wiki.moderate(f"lock/{page.pid}", action == "lock")
    elif action in ("hide-rev", "show-rev") and rev:
        await wiki.moderate(f"hide/{page.pid}/{rev}", action == "hide-rev")
        back += "/historique"
    elif action == "block":
        client = str(form.get("client", "")).strip()[:64]
        seconds = _BLOCK_SECONDS.get(str(form.get("for", "1h")), 3600)
        if not client:
            raise web.HTTPBadRequest(text="which device?")
        await wiki.moderate(f"block/{wiki.node_id}/{client}", time.time() + seconds)
    else:
        raise web.HTTPBadRequest(text="unknown action")
    raise web.HTTPSeeOther(back)
