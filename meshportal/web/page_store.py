"""Whole pages kept on disk from one run to the next, for the page every visitor asks
for first: the home page.

After a restart (a power cut, an upgrade, a reload of the service), the first phone to
join gets the home page the previous run rendered, and the box does not import Jinja2
to make it again: 25-35 ms and about 2 MiB that a box which only serves the home page
never pays (issue 2's start-up budget).  The first lesson, wiki or search page still
loads Jinja2.

A stored page is used only if everything it was made from is unchanged.  Its key
hashes the templates and catalogs, the code that renders pages, the installed Jinja2,
and what the caller names (language, box name, the lessons listed...); a page whose key
differs is rendered again and replaces it.  The file's first line holds the key and a
checksum of the page, so a file cut short by a power cut is never served: it is a
cache, rebuilt at the next render, and failing to read or write it costs only that.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
from functools import cache
from pathlib import Path

from meshportal.web.i18n import DOMAIN, LOCALE_DIR

__all__ = ["PageStore", "page_key"]

log = logging.getLogger("meshportal.web")

_WEB = Path(__file__).resolve().parent
# The code a stored page's text depends on: the templates' context and helpers.
_RENDERING_CODE = ("render.py", "lessons.py", "i18n.py", "page_store.py")


@cache
def _shipped_digest() -> bytes:
    """The templates, the rendering code and Jinja2's version, read once per run: they
    ship with the code and do not change while it runs (templates are not reloaded)."""
    digest = hashlib.sha256()
    files = sorted((_WEB / "templates").iterdir()) + [_WEB / name for name in _RENDERING_CODE]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    # Jinja2's own version without importing it (that is what this module saves)
    spec = importlib.util.find_spec("jinja2")
    origin = Path(spec.origin) if spec and spec.origin else None
    if origin is not None:
        digest.update(origin.read_bytes())  # its __init__.py carries __version__
    return digest.digest()


@cache
def _catalog_digest(lang: str) -> bytes:
    catalog = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    return hashlib.sha256(catalog.read_bytes() if catalog.exists() else b"").digest()


def page_key(lang: str, *inputs: str) -> str:
    """The key of a page in `lang` made from `inputs` and everything shipped."""
    digest = hashlib.sha256(_shipped_digest() + _catalog_digest(lang))
    for part in inputs:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


class PageStore:
    """Pages by name in one folder, each with the key it was made under."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str, key: str) -> str | None:
        """The page stored under `name` if it was made under `key` and is whole."""
        try:
            header, _, body = (self.folder / f"{name}.html").read_bytes().partition(b"\n")
        except OSError:
            return None
        stored_key, _, checksum = header.decode("ascii", "replace").partition(" ")
        if stored_key != key or checksum != hashlib.sha256(body).hexdigest():
            return None
        try:
            return body.decode()
        except UnicodeDecodeError:
            return None

    def put(self, name: str, key: str, html: str) -> None:
        body = html.encode()
        header = f"{key} {hashlib.sha256(body).hexdigest()}\n".encode()
        path = self.folder / f"{name}.html"
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(mode=0o750, parents=True, exist_ok=True)
            temporary.write_bytes(header + body)
            os.replace(temporary, path)  # readers see the old page or the new, whole
        except OSError as exc:
            log.warning("page %s not kept in %s: %s", name, self.folder, exc)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
