"""Markdown to safe HTML, with wiki links.

markdown-it-py renders CommonMark; nh3 (the ammonia sanitiser) then removes anything
active: scripts, event attributes, `javascript:` URLs, SVG.  Pages come from anonymous
visitors and from other boxes, so the output of the renderer is never trusted on its own.

Wiki links are written `[[Page title]]` or `[[Page title|shown text]]`.  A link to a page
that does not exist yet points at `/wiki/<slug>?creer=1`, which offers to create it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

__all__ = ["render_markdown", "slugify", "wiki_links"]

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

_WIKI_LINK = re.compile(r"\[\[([^\[\]|\n]{1,200})(?:\|([^\[\]\n]{1,200}))?\]\]")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
MAX_SLUG = 80


def slugify(title: str) -> str:
    """'Écologie numérique' -> 'ecologie-numerique': readable, ASCII, stable addresses."""
    decomposed = unicodedata.normalize("NFKD", title)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_only = ascii_only.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")
    return _NOT_SLUG.sub("-", ascii_only.lower()).strip("-")[:MAX_SLUG].strip("-")


def wiki_links(source: str) -> set[str]:
    """Slugs of the pages that `source` links to."""
    return {slug for m in _WIKI_LINK.finditer(source) if (slug := slugify(m.group(1)))}


@cache
def _markdown() -> MarkdownIt:
    # Imported on the first page shown: an idle box keeps the memory for itself.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def _escape_label(text: str) -> str:
    return re.sub(r"([\\\[\]*_`<>])", r"\\\1", text.strip())


def render_markdown(source: str, exists: Callable[[str], bool] | None = None) -> str:
    """Safe HTML for `source`; `exists(slug)` tells which wiki links lead somewhere."""
    import nh3

    if exists is not None:

        def link(match: re.Match[str]) -> str:
            slug = slugify(match.group(1))
            label = _escape_label(match.group(2) or match.group(1))
            if not slug:
                return label
            suffix = "" if exists(slug) else "?creer=1"
            return f"[{label}](/wiki/{slug}{suffix})"

        source = _WIKI_LINK.sub(link, source)
    return nh3.clean(_markdown().render(source), link_rel="nofollow noopener")
