"""`meshportal init` and `meshportal serve`: preparing the data folder and running."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from captive.http import CAPTIVE, answer_before_routing
from meshportal import identity
from meshportal.app import create_app, library_migrations, reload_content
from meshportal.sdnotify import Notifier
from meshportal.settings import Settings
from meshportal.store import DB_FILE, Database, DataDirLock, StoreError

log = logging.getLogger("meshportal")


class StartError(Exception):
    """The daemon cannot start; the message tells the admin what to do."""


def prepare_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    except FileExistsError:
        raise StartError(f"data folder {data_dir} exists and is not a folder") from None
    except OSError as exc:
        raise StartError(f"cannot create data folder {data_dir}: {exc.strerror}") from None
    if not data_dir.is_dir():
        raise StartError(f"data folder {data_dir} is not a folder")
    probe = data_dir / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartError(f"data folder {data_dir} is not writable: {exc.strerror}") from None


async def initialise(data_dir: Path) -> tuple[identity.Identity, bool]:
    """Create folder, identity and database; a second run changes nothing."""
    prepare_data_dir(data_dir)
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        ident, created = identity.create_or_load(data_dir)
        db = await Database.open(data_dir / DB_FILE, library_migrations())
        await db.close()
    finally:
        lock.release()
    return ident, created


def _create_identity_in_child(data_dir: Path) -> None:
    """Make the key pair in a short-lived process.

    Generating it needs `cryptography`, about 6 MB that a process never gives back; the
    daemon itself only loads it when it first signs, so a first start must not either.
    """
    code = (
        "import sys, pathlib; from meshportal.identity import create_or_load; "
        "create_or_load(pathlib.Path(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise StartError(f"cannot create the identity: {done.stderr.strip().splitlines()[-1:]}")


def new_event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop where it is installed, else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def serve(settings: Settings, notifier: Notifier | None = None) -> None:
    notifier = notifier or Notifier()
    data_dir = settings.data_dir
    prepare_data_dir(data_dir)
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        if not (data_dir / identity.KEY_FILE).exists():
            await asyncio.to_thread(_create_identity_in_child, data_dir)
        ident = identity.load(data_dir)
        await _run(create_app(settings, ident, notifier), settings, notifier)
    finally:
        lock.release()


async def _run(app: web.Application, settings: Settings, notifier: Notifier) -> None:
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=settings["shutdown_timeout"],
        access_log=None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[Any]] = set()

    def reload() -> None:
        task = loop.create_task(reload_content(app))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await runner.setup()  # runs the cleanup_ctx start-up: database, admin socket…
        if CAPTIVE in app:
            answer_before_routing(runner)  # before the first connection: see its docstring
        site = web.TCPSite(runner, settings["host"], settings["port"])
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartError(
                    f"port {settings['port']} on {settings['host']} is already in use"
                ) from None
            raise StartError(
                f"cannot listen on {settings['host']}:{settings['port']}: {exc.strerror}"
            ) from None
        address = f"http://{settings['host']}:{settings['port']}/"
        log.info("meshportal ready on %s (pid %d)", address, os.getpid())
        print(f"meshportal: ready on {address}", flush=True)
        notifier.ready(f"serving {address}")
        await stop.wait()
        log.info("stopping")
        notifier.stopping()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


__all__ = ["StartError", "StoreError", "initialise", "new_event_loop_factory", "serve"]
