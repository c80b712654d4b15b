"""How an admin command reaches the box: the running daemon's admin socket, or, with the
daemon stopped, the database itself while holding the data-folder lock.

The daemon holds that lock exactly while it runs, so a command that gets the lock knows
no daemon writes meanwhile, and no daemon can start before it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from meshportal import admin
from meshportal.cli_common import EXIT_CONFIG, EXIT_FAILURE, EXIT_NOT_RUNNING
from meshportal.settings import Settings
from meshportal.store import DB_FILE, Database, DataDirLock, DataDirLocked

__all__ = ["CommandError", "ask", "daemon_running", "guard", "run_offline"]

T = TypeVar("T")
Command = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """A command that cannot be done, with the message to show and the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def daemon_running(settings: Settings) -> bool:
    """The data-folder lock is held exactly while a daemon runs."""
    if not settings.data_dir.is_dir():
        raise CommandError(
            f"no data folder {settings.data_dir}: run 'meshportal init'", EXIT_CONFIG
        )
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirLocked:
        return True
    lock.release()
    return False


def ask(settings: Settings, request: dict[str, Any], wait: float = 5.0) -> dict[str, Any]:
    """One request to the daemon; its error answer becomes a CommandError."""
    path = admin.socket_path(settings["admin_socket"], settings.data_dir)
    answer = admin.ask(path, request, timeout=wait)  # AdminUnavailable if it said nothing
    if "error" in answer:
        raise CommandError(str(answer["error"]).removeprefix("bad request: "), EXIT_CONFIG)
    return answer


def run_offline(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work(db)`` on the database, holding the lock so no daemon starts meanwhile."""
    from meshportal.app import library_migrations

    async def run() -> T:
        db = await Database.open(settings.data_dir / DB_FILE, library_migrations())
        try:
            return await work(db)
        finally:
            await db.close()

    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirLocked:
        # a daemon started since the caller found none (daemon_running): nothing done
        raise CommandError(
            "the daemon started meanwhile: nothing was changed; run the command again"
        ) from None
    try:
        return asyncio.run(run())
    finally:
        lock.release()


def guard(
    command: Command,
    need_daemon: Callable[[], str],
    plain: Callable[[], tuple[type[Exception], ...]] = tuple,
) -> Command:
    """Expected failures as one line and their exit code: ``plain()`` names the command's
    own errors of bad input (a function, so their modules load only when needed)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return command(args, settings)
        except CommandError as exc:
            print(f"meshportal: {exc}", file=sys.stderr)
            return exc.code
        except admin.AdminNoAnswer as exc:  # there, but it stopped or failed meanwhile
            print(f"meshportal: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        except admin.AdminUnavailable:
            print(f"meshportal: {need_daemon()}", file=sys.stderr)
            return EXIT_NOT_RUNNING
        except Exception as exc:
            if not isinstance(exc, plain()):
                raise
            print(f"meshportal: {exc}", file=sys.stderr)
            return EXIT_CONFIG

    return run
