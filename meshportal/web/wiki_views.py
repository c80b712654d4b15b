"""The wiki's pages: read, create, edit with preview, rename, history, diff, restore,
recent changes, attachments and moderation.  Every form works without JavaScript."""

from __future__ import annotations

import asyncio
import difflib
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from markupsafe import Markup

from captive.http import client_ip
from meshportal.blobs import BlobError, is_blob_hash
from meshportal.lazy_wiki import WIKI
from meshportal.web.admin_auth import is_admin
from meshportal.web.forms import FORMS, read_form
from meshportal.web.i18n import choose_language, translations
from meshportal.web.markup import render_markdown, slugify
from meshportal.web.render import PAGES, render, render_html, respond
from meshportal.web.routes import MAX_FILE
from meshportal.wiki.service import Page, Wiki, WikiError

__all__ = ["box_wiki"]

_REV = re.compile(r"[A-Z2-7-]{20,80}:[0-9]{1,12}")
_FILE_NAME = re.compile(r"[\w][\w .()+-]{0,99}")
# What an attachment may be, judged by its first bytes, never by what the client claims.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def box_wiki(request: web.Request) -> Wiki:
    """The box's wiki, built by the first request that needs it."""
    return request.app[WIKI].get()


def _t(request: web.Request) -> Any:
    return translations(choose_language(request)).gettext


def _message(
    request: web.Request, status: int, heading: str, text: str = "", back: str = "/wiki"
) -> web.Response:
    return render(request, "message.html", status=status, heading=heading, text=text, back=back)


def _expired(request: web.Request, back: str) -> web.Response:
    _ = _t(request)
    return _message(request, 400, _("The form had expired"), _("Go back and try again."), back)


def _locked(request: web.Request, back: str) -> web.Response:
    _ = _t(request)
    text = _("Only the box's moderators can change it.")
    return _message(request, 403, _("This page is locked"), text, back)


def _too_fast(request: web.Request, back: str) -> web.Response:
    _ = _t(request)
    text = _("Wait a minute and try again.")
    return _message(request, 429, _("Too many saves in a short time"), text, back)


def _file_too_large(request: web.Request, limit: int, back: str) -> web.Response:
    _ = _t(request)
    text = _("Files up to %(mb)s MB are accepted.") % {"mb": limit // 1_000_000}
    return _message(request, 413, _("File too large"), text, back)


async def _page_or_404(request: web.Request) -> Page:
    page = await box_wiki(request).find(request.match_info["slug"])
    if page is None:
        raise web.HTTPNotFound()
    if page.hidden and not is_admin(request):
        _ = _t(request)
        raise web.HTTPGone(text=_("This page was hidden by the box's moderators."))
    return page


# --- reading -------------------------------------------------------------------------------


async def wiki_index(request: web.Request) -> web.Response:
    pages = await box_wiki(request).pages()
    return render(request, "wiki_index.html", pages=pages)


async def recent_changes(request: web.Request) -> web.Response:
    rows = await box_wiki(request).recent()
    return render(request, "wiki_recent.html", rows=rows, when=_when(request))


async def show_page(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    slug = request.match_info["slug"]
    page = await wiki.find(slug, with_text=False)
    if page is None:
        return render(request, "wiki_missing.html", status=404, slug=slug)
    if page.slug != slug:
        raise web.HTTPMovedPermanently(f"/wiki/{page.slug}")
    if page.hidden and not is_admin(request):
        _ = _t(request)
        return _message(
            request, 410, _("Page hidden"), _("This page was hidden by the box's moderators.")
        )
    admin = is_admin(request)
    merged = request.query.get("fusion") == "1"
    lang = choose_language(request)
    key = ("wiki", lang, page.pid, page.head, wiki.generation, merged, request.path)
    cache = request.app[PAGES]
    html = None if admin else cache.get(key)
    if html is None:
        page.text = await wiki.text(page.pid)
        html = render_html(
            request,
            "wiki_page.html",
            lang,
            page=page,
            body=Markup(render_markdown(page.text, await wiki.linkable())),  # noqa: S704
            backlinks=await wiki.backlinks(page.slug),
            merged=merged,
            admin=admin,
            csrf=request.app[FORMS].token(request) if admin else "",
        )
        if not admin:  # a moderator's page carries their forms and token
            cache.put(key, html)
    return respond(request, html, lang)


async def upload_form(request: web.Request) -> web.Response:
    page = await _page_or_404(request)
    return render(
        request,
        "wiki_upload.html",
        page=page,
        csrf=request.app[FORMS].token(request),
        max_mb=request.app[MAX_FILE] // 1_000_000,
    )


# --- editing -------------------------------------------------------------------------------


async def edit_form(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    slug = request.match_info["slug"]
    page = await wiki.find(slug)
    if page is not None and (page.hidden or page.locked) and not is_admin(request):
        return _locked(request, f"/wiki/{slug}")
    if page is not None:
        wiki.remember(page.head, page.text)
    fields = {"text": page.text, "base": page.head} if page else {}
    return _editor(request, page, slug, fields)


def _editor(
    request: web.Request,
    page: Page | None,
    slug: str,
    fields: dict[str, str],
    *,
    preview: str | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "wiki_edit.html",
        status=status,
        page=page,
        slug=slug,
        title=fields.get("title") or (page.title if page else slug.replace("-", " ").capitalize()),
        text=fields.get("text", ""),
        base=fields.get("base", ""),
        summary=fields.get("summary", ""),
        author=fields.get("author", ""),
        preview=Markup(preview) if preview is not None else None,  # noqa: S704 - sanitised
        notice=notice,
        csrf=request.app[FORMS].token(request),
    )


async def save_page(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    guard = request.app[FORMS]
    _ = _t(request)
    slug = request.match_info.get("slug", "")
    form = await read_form(request)
    text = str(form.get("text", ""))
    title = str(form.get("title", "")).strip()
    base = str(form.get("base", ""))
    summary = str(form.get("summary", ""))[:200]
    author = str(form.get("author", ""))[:60]
    keep = {"text": text, "base": base, "title": title, "summary": summary, "author": author}
    if not slug:
        slug = slugify(title)
        if not slug:
            return _editor(request, None, "", keep, notice=_("Give the page a title."), status=400)
        if await wiki.find(slug, with_text=False) is not None:
            notice = _("Another page already has this title.")
            return _editor(request, None, "", keep, notice=notice, status=409)
    page = await wiki.find(slug)
    if not guard.valid(request, form):
        return _editor(
            request,
            page,
            slug,
            keep,
            notice=_("The form had expired: check your text and save again."),
            status=400,
        )
    if base and not _REV.fullmatch(base):
        return _editor(request, page, slug, keep, notice=_("Unknown starting version."), status=400)
    admin = is_admin(request)
    client = client_ip(request)
    if not admin and await wiki.blocked_until(client) > time.time():
        return _editor(
            request,
            page,
            slug,
            keep,
            notice=_("Editing from this device is paused by the box's moderators."),
            status=403,
        )
    changed_underneath = page is not None and base != page.head
    if form.get("action") == "preview":
        notice = (
            _("Someone saved this page while you were editing: saving will merge both texts.")
            if changed_underneath
            else ""
        )
        html = render_markdown(text, await wiki.linkable())
        return _editor(request, page, slug, keep, preview=html, notice=notice)
    if not admin and not guard.edits.allow(client):
        return _editor(
            request,
            page,
            slug,
            keep,
            notice=_("Too many saves in a short time: wait a minute, your text is kept below."),
            status=429,
        )
    try:
        result = await wiki.save(
            slug, text, base=base, summary=summary, author=author, title=title or None, admin=admin
        )
    except WikiError as exc:
        reasons = {
            "locked": (_("This page is locked: only moderators can change it."), 403),
            "hidden": (_("This page was hidden by the box's moderators."), 403),
            "too large": (_("The page is too long (1 MB at most)."), 413),
            "bad title": (_("Give the page a title."), 400),
            "unknown revision": (_("Unknown starting version."), 400),
        }
        notice, status = reasons.get(str(exc), (str(exc), 400))
        return _editor(request, page, slug, keep, notice=notice, status=status)
    target = f"/wiki/{result.page.slug}" + ("?fusion=1" if result.merged else "")
    raise web.HTTPSeeOther(target)


async def new_page_form(request: web.Request) -> web.Response:
    return _editor(request, None, "", {"title": request.query.get("titre", "")})


# --- history -------------------------------------------------------------------------------


def _when(request: web.Request) -> Any:
    lang = choose_language(request)

    def fmt(at: float) -> str:
        from babel.dates import format_datetime

        return str(format_datetime(at, format="short", locale="fr_FR" if lang == "fr" else "en_GB"))

    return fmt


async def history(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    page = await _page_or_404(request)
    replica = await wiki.replica()
    admin = is_admin(request)
    revisions = [
        (rev, wiki.revision_hidden(replica, page.pid, rev.rev))
        for rev in await wiki.history(page.pid)
    ]
    if not admin:
        revisions = [(r, h) for r, h in revisions if not h]
    return render(
        request,
        "wiki_history.html",
        page=page,
        revisions=revisions,
        when=_when(request),
        admin=admin,
        csrf=request.app[FORMS].token(request),
    )


async def _revision_text(request: web.Request, page: Page, rev: str) -> str:
    wiki = box_wiki(request)
    if not _REV.fullmatch(rev):
        raise web.HTTPNotFound()
    replica = await wiki.replica()
    if wiki.revision_hidden(replica, page.pid, rev) and not is_admin(request):
        raise web.HTTPGone()
    try:
        return await wiki.text_at(page.pid, rev)
    except WikiError:
        raise web.HTTPNotFound() from None


async def show_revision(request: web.Request) -> web.Response:
    page = await _page_or_404(request)
    rev = request.match_info["rev"]
    text = await _revision_text(request, page, rev)
    linkable = await box_wiki(request).linkable()
    return render(
        request,
        "wiki_revision.html",
        page=page,
        rev=rev,
        body=Markup(render_markdown(text, linkable)),  # noqa: S704 - sanitised
        csrf=request.app[FORMS].token(request),
    )


def _diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    """('=', line) / ('-', line) / ('+', line), with unchanged stretches shortened."""
    out: list[tuple[str, str]] = []
    a, b = old.splitlines(), new.splitlines()
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(2):
        if out:
            out.append(("…", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(("=", line) for line in a[i1:i2])
                continue
            out.extend(("-", line) for line in a[i1:i2])
            out.extend(("+", line) for line in b[j1:j2])
    return out


async def diff(request: web.Request) -> web.Response:
    page = await _page_or_404(request)
    old_rev, new_rev = request.query.get("de", ""), request.query.get("a", "")
    if not new_rev:
        new_rev = page.head
    old = await _revision_text(request, page, old_rev) if old_rev else ""
    new = await _revision_text(request, page, new_rev)
    return render(
        request,
        "wiki_diff.html",
        page=page,
        old_rev=old_rev,
        new_rev=new_rev,
        lines=_diff_lines(old, new),
    )


async def restore(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    page = await _page_or_404(request)
    form = await read_form(request)
    if not request.app[FORMS].valid(request, form):
        return _expired(request, f"/wiki/{page.slug}/historique")
    if page.locked and not is_admin(request):
        return _locked(request, f"/wiki/{page.slug}")
    rev = str(form.get("rev", ""))
    await _revision_text(request, page, rev)
    if not is_admin(request) and not request.app[FORMS].edits.allow(client_ip(request)):
        return _too_fast(request, f"/wiki/{page.slug}/historique")
    await wiki.restore(page, rev, author=str(form.get("author", ""))[:60])
    raise web.HTTPSeeOther(f"/wiki/{page.slug}")


# --- renaming and files --------------------------------------------------------------------


async def rename_form(request: web.Request) -> web.Response:
    page = await _page_or_404(request)
    return render(
        request, "wiki_rename.html", page=page, csrf=request.app[FORMS].token(request), notice=""
    )


async def rename(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    page = await _page_or_404(request)
    form = await read_form(request)
    _ = _t(request)
    notice = ""
    if not request.app[FORMS].valid(request, form):
        notice = _("The form had expired: try again.")
    elif page.locked and not is_admin(request):
        notice = _("This page is locked: only moderators can change it.")
    else:
        try:
            slug = await wiki.rename(page, str(form.get("title", "")))
        except WikiError as exc:
            notice = {
                "title taken": _("Another page already has this title."),
                "bad title": _("Give the page a title."),
            }.get(str(exc), str(exc))
        else:
            raise web.HTTPSeeOther(f"/wiki/{slug}")
    return render(
        request,
        "wiki_rename.html",
        status=400,
        page=page,
        notice=notice,
        csrf=request.app[FORMS].token(request),
    )


async def upload(request: web.Request) -> web.Response:
    wiki = box_wiki(request)
    page = await _page_or_404(request)
    _ = _t(request)
    limit = request.app[MAX_FILE]
    back = f"/wiki/{page.slug}"
    if request.content_length is not None and request.content_length > limit + 4096:
        return _file_too_large(request, limit, back)
    reader = await request.multipart()
    fields: dict[str, str] = {}
    data = b""
    name = ""
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            name = _file_name(part.filename or "")
            chunks = []
            size = 0
            while chunk := await part.read_chunk(65536):
                size += len(chunk)
                if size > limit:
                    return _file_too_large(request, limit, back)
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name == "csrf":
            fields["csrf"] = (await part.text())[:100]
    if not request.app[FORMS].valid_token(request, fields.get("csrf", "")):
        return _expired(request, back)
    if page.locked and not is_admin(request):
        return _locked(request, back)
    if not _FILE_NAME.fullmatch(name) or ".." in name:
        return _message(
            request,
            400,
            _("Invalid file name"),
            _("Use letters, digits, spaces, dots and dashes only."),
            back,
        )
    media_type = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
    if media_type is None:
        return _message(
            request,
            415,
            _("File type not accepted"),
            _("Images (PNG, JPEG, GIF) and PDF documents only."),
            back,
        )
    if not is_admin(request) and not request.app[FORMS].edits.allow(client_ip(request)):
        return _too_fast(request, back)
    try:
        await wiki.attach(page, name, data, media_type)
    except BlobError as exc:
        return _message(request, 507, _("No room left for files"), str(exc), back)
    raise web.HTTPSeeOther(back)


async def serve_file(request: web.Request) -> web.StreamResponse:
    digest = request.match_info["digest"]
    if not is_blob_hash(digest):
        raise web.HTTPNotFound()
    wiki = box_wiki(request)
    path = wiki.blobs.path(digest)
    if not path.is_file():
        raise web.HTTPNotFound()
    head = await asyncio.to_thread(_first_bytes, path)
    media_type = next(
        (t for magic, t in _MAGIC if head.startswith(magic)), "application/octet-stream"
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": media_type,
            "Cache-Control": "public, max-age=31536000, immutable",  # the name is the content
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def _file_name(raw: str) -> str:
    """Browsers send the name as UTF-8, some clients percent-encode it: accept both, then
    judge the decoded name (so an encoded '../' is caught like a plain one)."""
    try:
        return unquote(raw, errors="strict").strip()
    except UnicodeDecodeError:
        return ""


def _first_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(16)
