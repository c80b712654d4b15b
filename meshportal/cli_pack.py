"""`meshportal pack publish NAME`: share a content pack this box serves with its peers.

Publishing writes to the replica, whose one writer is the daemon: the command goes
through the admin socket and needs the daemon running.  Which packs this box takes
from others is the ``packs_accept`` setting; what it installed shows in
``meshportal status``.
"""

from __future__ import annotations

import argparse
import sys

from meshportal import admin, status
from meshportal.cli_common import EXIT_CONFIG, EXIT_NOT_RUNNING, EXIT_OK, add_common_options
from meshportal.settings import Settings

_TEXT = {
    "fr": {
        "published": "publié : {name} {version} ({size} octets, empreinte {hash}…)",
        "next": "Les boîtes de confiance qui l'acceptent (packs_accept) l'installeront"
        " à la prochaine synchro.",
        "need_daemon": "le démon ne tourne pas : lancez 'meshportal serve' d'abord",
    },
    "en": {
        "published": "published: {name} {version} ({size} bytes, hash {hash}…)",
        "next": "Trusted boxes that accept it (packs_accept) install it at their next sync.",
        "need_daemon": "the daemon is not running: start 'meshportal serve' first",
    },
}


def register(p_pack: argparse.ArgumentParser) -> None:
    """Fill in `meshportal pack` (the parser and its help are made by the CLI)."""
    pack_sub = p_pack.add_subparsers(dest="pack_command", required=True)
    p_publish = pack_sub.add_parser("publish", help="share a content pack this box serves")
    add_common_options(p_publish)
    p_publish.add_argument("name", metavar="NAME", help="the pack's folder name")
    p_publish.set_defaults(func=cmd_publish)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    words = _TEXT[status.admin_language()]
    path = admin.socket_path(settings["admin_socket"], settings.data_dir)
    try:
        # archiving and hashing a large pack on a Pi takes a few seconds
        answer = admin.ask(path, {"cmd": "pack.publish", "name": args.name}, timeout=120)
    except admin.AdminUnavailable:
        print(f"meshportal: {words['need_daemon']}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if "error" in answer:
        print(f"meshportal: {str(answer['error']).removeprefix('bad request: ')}", file=sys.stderr)
        return EXIT_CONFIG
    print(words["published"].format(**{**answer, "hash": str(answer["hash"])[:12]}))
    print(words["next"])
    return EXIT_OK
