"""`meshportal admin set-password`: the moderators' password for the wiki.

The password is hashed here, with scrypt, before it goes anywhere: the daemon and the
database only ever see the hash.  With the daemon running it takes the new hash through
the admin socket at once; stopped, the hash is written to the database directly.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from meshportal import admin, status
from meshportal.cli_common import EXIT_CONFIG, EXIT_OK, add_common_options
from meshportal.settings import Settings
from meshportal.store import DB_FILE, Database, DataDirLock, DataDirLocked

_TEXT = {
    "fr": {
        "ask": "Nouveau mot de passe de modération : ",
        "again": "Encore une fois : ",
        "differ": "les deux saisies diffèrent ; rien n'a changé",
        "done": "mot de passe de « {name} » enregistré",
        "no_data": "pas de dossier de données {path} : lancez d'abord 'meshportal init'",
    },
    "en": {
        "ask": "New moderation password: ",
        "again": "Once more: ",
        "differ": "the two entries differ; nothing changed",
        "done": "password for '{name}' saved",
        "no_data": "no data folder {path}: run 'meshportal init' first",
    },
}


def register(p_admin: argparse.ArgumentParser) -> None:
    """Fill in `meshportal admin` (the parser and its help are made by the CLI)."""
    admin_sub = p_admin.add_subparsers(dest="admin_command", required=True)
    p_set = admin_sub.add_parser("set-password", help="set a moderator's password")
    add_common_options(p_set)
    p_set.add_argument("--name", default="admin", help="moderator name (default: admin)")
    p_set.add_argument("--stdin", action="store_true", help="read the password from standard input")
    p_set.set_defaults(func=cmd_set_password, opens_data=True)


def _read_password(words: dict[str, str], from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(words["ask"])
    if getpass.getpass(words["again"]) != first:
        print(f"meshportal: {words['differ']}", file=sys.stderr)
        return None
    return first


def cmd_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal.web.admin_auth import new_password_record

    words = _TEXT[status.admin_language()]
    if not settings.data_dir.is_dir():
        print(f"meshportal: {words['no_data'].format(path=settings.data_dir)}", file=sys.stderr)
        return EXIT_CONFIG
    password = _read_password(words, args.stdin)
    if password is None:
        return EXIT_CONFIG
    try:
        record = new_password_record(password)
    except ValueError as exc:
        print(f"meshportal: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    name = str(args.name)[:40]
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirLocked:
        digest, salt, params = record
        request = {"cmd": "set-password", "name": name, "hash": digest.hex(),
                   "salt": salt.hex(), "params": params}  # fmt: skip
        path = admin.socket_path(settings["admin_socket"], settings.data_dir)
        answer = admin.ask(path, request, timeout=10)
        if "error" in answer:
            print(f"meshportal: {answer['error']}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        try:
            asyncio.run(_store_offline(settings, name, record))
        finally:
            lock.release()
    print(words["done"].format(name=name))
    return EXIT_OK


async def _store_offline(settings: Settings, name: str, record: tuple[bytes, bytes, str]) -> None:
    from meshportal.app import library_migrations
    from meshportal.web.admin_auth import store_password

    db = await Database.open(settings.data_dir / DB_FILE, library_migrations())
    try:
        await store_password(db, name, record)
    finally:
        await db.close()
