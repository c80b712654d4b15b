"""The captive portal inside the daemon's aiohttp application.

Every request is sorted before any route:
- a request for the box itself goes on to the site, tagged with whether the client
  has accepted and with the Enter form's fields;
- a connectivity probe gets the portal redirect until the client accepts, then its
  system's exact "online" answer, so the sign-in sheet closes;
- any other host (or a hard-coded address that nftables brought here) is sent to the
  portal.
The client is the socket's peer address: forwarding headers are never trusted.

Two places sort, with the same functions: a middleware, which works under any runner
(the test client too), and ``answer_before_routing``, which the daemon puts in front of
its router.  There, probes and foreign hosts skip URL routing and the middleware chain,
which under a probe storm cost as much as the answer itself (bench/bench_captive.py).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from captive import pages
from captive.acceptance import (
    AcceptanceStore,
    ConnectionProvider,
    TransactionProvider,
    transactions_on,
)
from captive.answers import Answer, online, to_portal
from captive.guards import FormTokens, RateLimiter
from captive.probes import Classification, Kind, classify

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What aiohttp's low-level server calls for each request, before any routing.
ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
ENTER_PATH = "/captive/enter"
DONE_PATH = "/captive/ok"
API_PATH = "/api/captive"
API_MEDIA_TYPE = "application/captive+json"
TOKEN_FIELD = "jeton"  # noqa: S105 - a form field name, not a secret


@dataclass(frozen=True)
class CaptiveConfig:
    box_name: str = "booture"
    portal_host: str = "booture.lan"  # the name visitors are sent to
    box_hosts: frozenset[str] = frozenset({"booture.lan", "booture"})
    acceptance_seconds: float = 12 * 3600.0  # the DHCP lease time
    probe_rate: float = 2.0  # per client, per second, after the burst
    probe_burst: float = 20.0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def portal_url(self) -> str:
        return f"http://{self.portal_host}/"

    @property
    def hosts(self) -> frozenset[str]:
        return self.box_hosts | {self.portal_host}


@dataclass
class CaptiveState:
    config: CaptiveConfig
    store: AcceptanceStore
    tokens: FormTokens
    limiter: RateLimiter
    # (Host, path) -> classification: phones repeat the same few probes, and a storm
    # repeats one; the bound keeps hostile variety from growing it.
    _seen: dict[tuple[str | None, str], Classification] = field(default_factory=dict)
    # Answers are immutable data, built once: a probe storm only copies them out.
    portal_answer: Answer = field(init=False)

    def __post_init__(self) -> None:
        self.portal_answer = to_portal(self.config.portal_url)

    def classify(self, host: str | None, path: str) -> Classification:
        key = (host, path)
        found = self._seen.get(key)
        if found is None:
            found = classify(host, path, "", self.config.hosts)
            if len(self._seen) >= 2048:
                self._seen.clear()
            self._seen[key] = found
        return found


CAPTIVE = web.AppKey("captive", CaptiveState)
# What the site's own pages learn about the client (the home page shows the Enter form).
ACCEPTED = web.RequestKey("captive.accepted", bool)
ENTER_FORM = web.RequestKey("captive.enter", dict)


def client_ip(request: web.BaseRequest) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


def _respond(answer: Answer) -> web.Response:
    return web.Response(status=answer.status, body=answer.body, headers=answer.headers)


def _enter_fields(state: CaptiveState, ip: str) -> dict[str, str]:
    return {TOKEN_FIELD: state.tokens.issue(ip)}


def _sort(state: CaptiveState, request: web.BaseRequest) -> Classification:
    return state.classify(request.headers.get("Host"), request.rel_url.raw_path)


def _answer_outsider(state: CaptiveState, found: Classification, ip: str) -> web.Response:
    """The answer to a probe or a foreign host: never a page of the box's site."""
    if not state.limiter.allow(ip):
        # Only probes and foreign hosts are limited: the box's own pages never are.
        return web.Response(status=429, text="Trop de requêtes / Too many requests\n",
                            headers={"Retry-After": "5", "Cache-Control": "no-store"})  # fmt: skip
    if found.kind is Kind.PROBE and found.system is not None and state.store.current(ip):
        return _respond(online(found.system))
    return _respond(state.portal_answer)


def _tag_for_the_box(state: CaptiveState, request: web.BaseRequest, ip: str) -> None:
    request[ACCEPTED] = state.store.current(ip) is not None
    request[ENTER_FORM] = {"action": ENTER_PATH, "fields": _enter_fields(state, ip)}


@web.middleware
async def captive_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if ACCEPTED in request:  # already sorted by the front door (answer_before_routing)
        return await handler(request)
    state = request.app[CAPTIVE]
    ip = client_ip(request)
    found = _sort(state, request)
    if found.kind is not Kind.BOX:
        return _answer_outsider(state, found, ip)
    _tag_for_the_box(state, request, ip)
    return await handler(request)


def answer_before_routing(runner: web.AppRunner) -> None:
    """Answer probes and foreign hosts before the router; call after ``runner.setup()``.

    Each connection takes the server's handler when it opens, so this must run before
    the site starts listening (or before the first connection, in a test).  Requests
    for the box go on to the application unchanged, middleware included.
    """
    server = runner.server
    if server is None:
        raise RuntimeError("answer_before_routing() needs a runner that is set up")
    state = runner.app[CAPTIVE]
    server.request_handler = _front_door(state, server.request_handler)


def _front_door(state: CaptiveState, application: ServerHandler) -> ServerHandler:
    async def front_door(request: web.BaseRequest) -> web.StreamResponse:
        found = _sort(state, request)
        ip = client_ip(request)
        if found.kind is Kind.BOX:
            # the same request object reaches the middleware, which then sorts nothing
            _tag_for_the_box(state, request, ip)
            return await application(request)
        return _answer_outsider(state, found, ip)

    return front_door


async def welcome(request: web.Request) -> web.Response:
    state = request.app[CAPTIVE]
    ip = client_ip(request)
    html = pages.welcome(state.config.box_name, ENTER_PATH, _enter_fields(state, ip))
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def enter(request: web.Request) -> web.Response:
    state = request.app[CAPTIVE]
    ip = client_ip(request)
    if request.content_length is not None and request.content_length > 1024:
        return web.Response(status=413, text="Formulaire trop grand / Form too large\n")
    form = await request.post()
    token = form.get(TOKEN_FIELD)
    if not isinstance(token, str) or not state.tokens.check(ip, token):
        html = pages.refused(state.config.portal_url)
        return web.Response(status=403, text=html, content_type="text/html")
    await state.store.async_accept(ip)
    # A full navigation to a new page: iOS re-probes on it and shows "Done".
    raise web.HTTPSeeOther(DONE_PATH, headers={"Cache-Control": "no-store"})


async def done(request: web.Request) -> web.Response:
    state = request.app[CAPTIVE]
    html = pages.confirmation(state.config.box_name, state.config.portal_url)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def api(request: web.Request) -> web.Response:
    """RFC 8908: the client's own state, in at most 4 KB."""
    state = request.app[CAPTIVE]
    accepted = state.store.current(client_ip(request))
    body: dict[str, object] = {
        "captive": accepted is None,
        "user-portal-url": state.config.portal_url,
        "venue-info-url": state.config.portal_url,
    }
    if accepted is not None:
        body["seconds-remaining"] = state.store.seconds_remaining(accepted)
        body["can-extend-session"] = True
    return web.Response(
        body=json.dumps(body).encode(),
        headers={"Content-Type": API_MEDIA_TYPE, "Cache-Control": "private, no-store"},
    )


async def not_found(request: web.Request) -> web.Response:
    """The last route: a plain 404 for the box's own missing pages.

    Being a route, it spares aiohttp from building an HTTPNotFound exception for every
    unknown path, which under a probe storm was most of the cost of an answer.
    """
    return web.Response(status=404, text="Page introuvable / Page not found\n")


def setup_captive(
    app: web.Application,
    config: CaptiveConfig,
    connection: ConnectionProvider,
    *,
    transaction: TransactionProvider | None = None,
    welcome_handler: Handler | None = None,
) -> None:
    """Mount the portal: its middleware first, its routes, and its start-up load.

    ``transaction`` opens a write transaction; the daemon passes its store's, so the
    portal's writes queue behind the others on the single writer connection.
    """
    state = CaptiveState(
        config,
        AcceptanceStore(
            connection, transaction or transactions_on(connection), config.acceptance_seconds
        ),
        FormTokens(config.secret),
        RateLimiter(config.probe_rate, config.probe_burst),
    )
    app[CAPTIVE] = state
    app.middlewares.insert(0, captive_middleware)
    app.router.add_get("/", welcome_handler or welcome)
    app.router.add_post(ENTER_PATH, enter)
    app.router.add_get(DONE_PATH, done)
    app.router.add_get(API_PATH, api)
    # Indexed under "/", so every more specific route added later still wins.
    app.router.add_route("*", "/{tail:.*}", not_found)

    async def load_acceptances(app: web.Application) -> AsyncIterator[None]:
        await state.store.async_load()
        yield

    app.cleanup_ctx.append(load_acceptances)
