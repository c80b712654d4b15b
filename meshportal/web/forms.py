"""What every form needs: a CSRF token bound to the client, a size cap, clean text.

Tokens are HMACs of the client's address and the hour (captive.guards.FormTokens), so a
form works without cookies; a form whose token expired is shown again with the visitor's
text kept, never thrown away.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from captive.guards import FormTokens, RateLimiter
from captive.http import client_ip

__all__ = ["FORMS", "FormGuard", "read_form"]

MAX_FORM_BYTES = 1_100_000  # a 1 MB page plus its other fields


class FormGuard:
    def __init__(self, edits_per_minute: float) -> None:
        self.tokens = FormTokens(secrets.token_bytes(32))
        self.edits = RateLimiter(rate=edits_per_minute / 60.0, burst=max(3.0, edits_per_minute))
        self.logins = RateLimiter(rate=5 / 60.0, burst=5)

    def token(self, request: web.Request) -> str:
        return self.tokens.issue(client_ip(request))

    def valid(self, request: web.Request, form: MultiDictProxy[str]) -> bool:
        return self.valid_token(request, str(form.get("csrf", "")))

    def valid_token(self, request: web.Request, token: str) -> bool:
        return self.tokens.check(client_ip(request), token)


FORMS = web.AppKey("forms", FormGuard)


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The urlencoded form, refused with 413 past the cap and 400 if it is not UTF-8."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_FORM_BYTES, request.content_length)
    raw = await request.read()
    if len(raw) > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_FORM_BYTES, len(raw))
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="invalid form encoding (UTF-8 expected)") from None
    return MultiDictProxy(MultiDict(pairs))
