"""The aiohttp application and the lifecycle of everything it owns.

Every resource (database, admin socket, watchdog, later zeroconf) is opened
and closed by a ``cleanup_ctx`` generator, in order, so a failed start or a
shutdown closes exactly what was opened, in reverse.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from captive.http import CAPTIVE, CaptiveConfig, setup_captive
from captive.schema import MIGRATIONS as CAPTIVE_MIGRATIONS
from meshportal import admin
from meshportal.blobs import BlobStore
from meshportal.identity import Identity
from meshportal.lazy_wiki import WIKI, LazyWiki
from meshportal.lesson_search import index_lessons
from meshportal.mesh.peers import MIGRATIONS as MESH_MIGRATIONS
from meshportal.pack_admin import pack_commands
from meshportal.pack_archive import ArchiveLimits
from meshportal.pack_disk import served_packs
from meshportal.pack_share import PackShare
from meshportal.pack_withdrawals import MIGRATIONS as PACK_MIGRATIONS
from meshportal.pack_withdrawals import WithdrawalTable
from meshportal.replica_host import ReplicaHost
from meshportal.sdnotify import Notifier
from meshportal.settings import Settings
from meshportal.store import DB_FILE, Database, StoreError
from meshportal.web.admin_auth import ADMIN, AdminSessions, store_password
from meshportal.web.forms import FORMS, FormGuard
from meshportal.web.lessons import PACKS, default_content_dir, home, setup_lessons
from meshportal.web.render import CACHE_FOLDER, PAGES, cache_folder
from meshportal.web.routes import setup_views
from meshportal.wiki.schema import MIGRATIONS as WIKI_MIGRATIONS
from sync.schema import MIGRATIONS as SYNC_MIGRATIONS

if TYPE_CHECKING:
    from meshportal.mesh.service import Mesh
    from meshportal.status import StatusSection


@dataclass
class Box:
    """What the running daemon knows about itself; shared by every part."""

    settings: Settings
    identity: Identity
    notifier: Notifier
    started: float = field(default_factory=time.time)
    sections: dict[str, StatusSection] = field(default_factory=dict)
    # Admin socket commands beyond "status", by name: each part registers its own.
    commands: dict[str, AdminCommand] = field(default_factory=dict)


AdminCommand = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


log = logging.getLogger("meshportal")
BOX = web.AppKey("box", Box)
DB = web.AppKey("db", Database)
REPLICA = web.AppKey("replica", ReplicaHost)
MESH: web.AppKey[Mesh] = web.AppKey("mesh")  # the class is imported lazily, with zeroconf
SHARE = web.AppKey("pack_share", PackShare)


def library_migrations() -> dict[str, list[str]]:
    """Every library's numbered schema, applied by the daemon at start."""
    return {
        "captive": CAPTIVE_MIGRATIONS,
        "mesh": MESH_MIGRATIONS,
        "packs": PACK_MIGRATIONS,
        "sync": SYNC_MIGRATIONS,
        "wiki": WIKI_MIGRATIONS,
    }


async def _database(app: web.Application) -> AsyncIterator[None]:
    box = app[BOX]
    db = await Database.open(box.settings.data_dir / DB_FILE, library_migrations())
    app[DB] = db
    # The replica itself loads on first use (see replica_host); this only binds it.
    host = app[REPLICA] = ReplicaHost(db, box.identity)
    blobs = BlobStore(box.settings.data_dir / "blobs", box.settings["files_budget_mb"] * 1_000_000)
    # the wiki service loads on the first request that needs it (see lazy_wiki)
    wiki = app[WIKI] = LazyWiki(db, host, blobs, box.identity.node_id)
    app[ADMIN] = AdminSessions(db)
    box.commands["set-password"] = _set_password_command(db)
    box.sections["wiki"] = wiki.status_section

    async def reload_command(_request: dict[str, Any]) -> dict[str, Any]:
        return await reload_content(app)

    box.commands["reload"] = reload_command
    await index_lessons(db, app[PACKS])
    await db.record_event("start", f"pid={os.getpid()}")
    yield
    try:
        await host.checkpoint()
    except (StoreError, sqlite3.Error, OSError) as exc:
        # a full disk at shutdown: the next start replays those changes instead
        log.warning("document states not stored at stop: %s", exc)
    await db.record_event("stop")
    await db.close()


def _set_password_command(db: Database) -> AdminCommand:
    """The CLI hashes the password; the daemon only stores the hash it is given."""

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        try:
            record = (
                bytes.fromhex(str(request["hash"])),
                bytes.fromhex(str(request["salt"])),
                str(request["params"]),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"bad set-password request: {exc}") from None
        await store_password(db, str(request.get("name", "admin"))[:40], record)
        return {"ok": True}

    return run


async def _admin_socket(app: web.Application) -> AsyncIterator[None]:
    box = app[BOX]
    path = admin.socket_path(box.settings["admin_socket"], box.settings.data_dir)

    async def status_command(request: dict[str, Any]) -> dict[str, Any]:
        from meshportal import status  # only `meshportal status` asks: not loaded at start

        report = status.live_report(box.settings.data_dir, box.identity.node_id, box.started)
        report["sections"] = {name: await section() for name, section in box.sections.items()}
        return report

    box.commands["status"] = status_command

    async def handle(request: dict[str, Any]) -> dict[str, Any]:
        command = box.commands.get(str(request.get("cmd")))
        if command is None:
            raise ValueError(f"unknown command {request.get('cmd')!r}")
        return await command(request)

    async with admin.serve_admin(path, handle, box.settings["admin_group"]):
        yield


async def _mesh(app: web.Application) -> AsyncIterator[None]:
    """Peers, the sync port and mDNS discovery (zeroconf is imported only in there)."""
    from meshportal.mesh.service import Mesh

    box = app[BOX]
    # the wiki's own store: one owner of the blobs folder and its budget
    mesh = Mesh(box.settings, box.identity, app[DB], host=app[REPLICA], blobs=app[WIKI].blobs)
    share = app[SHARE] = _pack_share(app, mesh)
    share.attach(mesh)
    await mesh.async_start()
    app[MESH] = mesh
    await share.start()  # before the web port opens: withdrawn packs are never served
    if share.accept_list:
        # an archive fetched just before a stop; boxes that take no packs skip this, so
        # their replica still loads on first use only
        share.soon()
    box.sections["mesh"] = mesh.status_section
    box.sections["packs"] = share.status_section
    box.commands.update(mesh.commands())
    box.commands.update(pack_commands(share, lambda: app[PACKS], content_dir(box.settings)))
    try:
        yield
    finally:
        await share.stop()
        await mesh.async_stop()


def _pack_share(app: web.Application, mesh: Mesh) -> PackShare:
    box = app[BOX]

    def served_version(name: str) -> str | None:
        return next((p.version for p in app[PACKS] if p.name == name), None)

    async def reload() -> None:
        await reload_content(app)

    return PackShare(
        host=app[REPLICA], blobs=app[WIKI].blobs, data_dir=box.settings.data_dir,
        node_id=box.identity.node_id, withdrawals=WithdrawalTable(app[DB]),
        accept=box.settings.list_of("packs_accept"),
        trusted=mesh.is_trusted, served_version=served_version, reload=reload,
        limits=ArchiveLimits(max_bytes=box.settings["packs_max_mb"] * 1_000_000),
    )  # fmt: skip


async def _watchdog(app: web.Application) -> AsyncIterator[None]:
    async with app[BOX].notifier.watchdog():
        yield


async def reload_content(app: web.Application) -> dict[str, Any]:
    """Read the content packs again (SIGHUP, `meshportal reload`): new lessons show at
    once, a broken pack is reported and skipped, the others keep working."""
    settings = app[BOX].settings
    packs, problems = served_packs(content_dir(settings), settings.data_dir / "packs")
    for problem in problems:
        log.warning("content pack skipped: %s", problem)
    app[PACKS][:] = packs  # the same list object: handlers hold no stale copy
    app[PAGES].clear()
    await index_lessons(app[DB], packs)
    return {"packs": [p.name for p in packs], "problems": [str(p) for p in problems]}


def content_dir(settings: Settings) -> Path:
    return Path(settings["content_dir"]) if settings["content_dir"] else default_content_dir()


def create_app(settings: Settings, identity: Identity, notifier: Notifier) -> web.Application:
    # room for the largest attachment plus the multipart envelope
    app = web.Application(client_max_size=int(settings["max_file_size"]) + 64 * 1024)
    app[BOX] = Box(settings, identity, notifier)
    # The mesh borrows the database, so it starts after it; the watchdog last.
    app.cleanup_ctx.extend([_database, _admin_socket, _mesh, _watchdog])
    packs, problems = served_packs(content_dir(settings), settings.data_dir / "packs")
    for problem in problems:
        log.warning("content pack skipped: %s", problem)
    setup_lessons(app, packs, settings["box_name"])
    app[CACHE_FOLDER] = cache_folder(settings.data_dir)
    app[FORMS] = FormGuard(float(settings["edit_rate"]))
    setup_views(app, int(settings["max_file_size"]))  # wiki, search, moderation
    if settings["captive"]:
        _mount_captive(app, settings)
    else:
        app.router.add_get("/", home)
    return app


def captive_config(settings: Settings) -> CaptiveConfig:
    portal = settings["portal_name"].lower()
    hosts = {portal, settings["box_name"].lower(), "localhost", "127.0.0.1", "::1"}
    if settings["host"] not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
        hosts.add(settings["host"])
    hosts.update(h.lower() for h in settings.list_of("box_hosts"))
    return CaptiveConfig(
        box_name=settings["box_name"],
        portal_host=portal,
        box_hosts=frozenset(hosts),
        acceptance_seconds=float(settings["acceptance_lifetime"]),
        probe_rate=float(settings["probe_rate"]),
    )


def _mount_captive(app: web.Application, settings: Settings) -> None:
    setup_captive(
        app,
        captive_config(settings),
        lambda: app[DB].writer,
        transaction=lambda: app[DB].transaction(),
        welcome_handler=home,
    )

    async def visitors() -> dict[str, Any]:
        return {"accepted": app[CAPTIVE].store.count_current()}

    app[BOX].sections["visitors"] = visitors
