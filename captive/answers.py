"""The exact answers each system reads as "online", and the redirect it reads as a portal.

Pure data: a status, headers and body bytes.  The HTTP layer only copies them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from html import escape

from captive.probes import System


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


_TEXT = {"Content-Type": "text/plain"}
_HTML = {"Content-Type": "text/html"}
_NO_STORE = {"Cache-Control": "no-store"}

ONLINE: dict[System, Answer] = {
    System.ANDROID: Answer(204),
    System.CHROMEOS: Answer(204),
    System.UBUNTU: Answer(204),
    System.APPLE: Answer(
        200, b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>", _HTML
    ),
    System.WINDOWS: Answer(200, b"Microsoft Connect Test", _TEXT),
    System.WINDOWS_LEGACY: Answer(200, b"Microsoft NCSI", _TEXT),
    System.FIREFOX_CANONICAL: Answer(
        200,
        b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>',
        _HTML,
    ),
    System.FIREFOX_SUCCESS: Answer(200, b"success\n", _TEXT),
    System.NETWORKMANAGER: Answer(
        200, b"NetworkManager is online\n", {**_TEXT, "X-NetworkManager-Status": "online"}
    ),
    System.FEDORA: Answer(200, b"OK\n", _TEXT),
}


_ONLINE_NO_STORE = {
    system: Answer(answer.status, answer.body, {**answer.headers, **_NO_STORE})
    for system, answer in ONLINE.items()
}


def online(system: System) -> Answer:
    """The exact "online" answer, never cached by the client (a later visit may differ)."""
    return _ONLINE_NO_STORE[system]


@lru_cache(maxsize=8)
def to_portal(portal_url: str) -> Answer:
    """A 302 to the portal.  Android reads any 3xx as "portal"; its body must be longer
    than 4 bytes or Android counts the probe as failed instead."""
    body = (
        "<!doctype html><title>Portail / Portal</title>"
        f'<p><a href="{escape(portal_url)}">Ouvrir le portail / Open the portal</a></p>'
    ).encode()
    return Answer(
        302, body, {"Location": portal_url, "Content-Type": "text/html; charset=utf-8", **_NO_STORE}
    )
