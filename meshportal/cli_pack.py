"""`meshportal pack …`: publish a pack to peers; list, remove and accept again the packs
this box serves.

Publishing writes to the replica, whose one writer is the daemon: it needs the daemon
running.  The other commands go through the admin socket when the daemon runs, so they
take effect at once.  With the daemon stopped, ``list`` reads the disk and the database
(and shows what the next start will serve), and ``remove``/``accept`` write the admin's
decision to the database under the data-folder lock: the daemon applies it at its next
start, before its web port opens, and serves nothing in between.  Which packs this box
takes from others is the ``packs_accept`` setting.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from meshportal import status
from meshportal.cli_common import EXIT_CONFIG, EXIT_OK, add_common_options
from meshportal.cli_daemon import Command, CommandError, ask, daemon_running, guard, run_offline
from meshportal.settings import Settings

_TEXT = {
    "fr": {
        "published": "publié : {name} {version} ({size} octets, empreinte {hash}…)",
        "next": "Les boîtes de confiance qui l'acceptent (packs_accept) l'installeront"
        " à la prochaine synchro.",
        "need_daemon": "le démon ne tourne pas : lancez 'meshportal serve' d'abord",
        "saved_offline": "enregistré (le démon est arrêté : effet à son prochain démarrage,"
        " avant qu'il ne serve quoi que ce soit)",
        "none": "aucun pack de contenu",
        "head": ("NOM", "VERSION", "ÉDITEUR", "EMPLACEMENT", "ÉTAT"),
        "this_box": "cette boîte",
        "unknown_publisher": "inconnu",
        "served": "servi",
        "shadowed": "non servi : une autre version de ce nom est servie",
        "withdrawn": "retiré : {why}",
        "pending": "retiré au prochain démarrage : {why}",
        "back": "retiré, éditeur de nouveau de confiance : réinstallé à la prochaine synchro",
        "why_removed": "supprimé par l'admin (meshportal pack accept {name} pour le reprendre)",
        "why_untrusted": "son éditeur n'est plus de confiance",
        "why_unknown": "éditeur inconnu",
        "why_not_accepted": "packs_accept ne le nomme plus",
        "removed": "supprimé : {name} {version} ; il ne sera plus installé depuis les autres"
        " boîtes. Pour le reprendre : meshportal pack accept {name}",
        "local_again": "Le pack {name} {version} de cette boîte (content/) est de nouveau servi.",
        "local": "{name} est un pack de cette boîte (dossier content/), pas un pack reçu :"
        " pour ne plus le servir, retirez son dossier du dossier de contenu",
        "unknown": "aucun pack reçu d'une autre boîte ne s'appelle {name!r}"
        " (voir meshportal pack list)",
        "accepted": "{name} n'est plus refusé : il sera installé dès que son archive est là"
        " (à la prochaine synchro au plus tard)",
        "not_refused": "{name} n'avait pas été supprimé : rien à faire",
        "not_in_accept": "Attention : {name} n'est pas dans packs_accept ({accept}) :"
        " ajoutez-le à ce réglage pour qu'il soit installé.",
    },
    "en": {
        "published": "published: {name} {version} ({size} bytes, hash {hash}…)",
        "next": "Trusted boxes that accept it (packs_accept) install it at their next sync.",
        "need_daemon": "the daemon is not running: start 'meshportal serve' first",
        "saved_offline": "saved (the daemon is stopped: takes effect at its next start,"
        " before it serves anything)",
        "none": "no content pack",
        "head": ("NAME", "VERSION", "PUBLISHER", "WHERE", "STATUS"),
        "this_box": "this box",
        "unknown_publisher": "unknown",
        "served": "served",
        "shadowed": "not served: another version of this name is served",
        "withdrawn": "withdrawn: {why}",
        "pending": "withdrawn at next start: {why}",
        "back": "withdrawn, publisher trusted again: re-installed at the next sync",
        "why_removed": "removed by the admin (meshportal pack accept {name} to take it again)",
        "why_untrusted": "its publisher is no longer trusted",
        "why_unknown": "publisher unknown",
        "why_not_accepted": "packs_accept no longer names it",
        "removed": "removed: {name} {version}; it will not be installed from other boxes"
        " again. To take it again: meshportal pack accept {name}",
        "local_again": "This box's own pack {name} {version} (content/) is served again.",
        "local": "{name} is this box's own pack (content/ folder), not one received: to stop"
        " serving it, take its folder out of the content folder",
        "unknown": "no pack received from another box is named {name!r} (see meshportal pack list)",
        "accepted": "{name} is no longer refused: it is installed as soon as its archive is"
        " here (at the next sync at the latest)",
        "not_refused": "{name} had not been removed: nothing to do",
        "not_in_accept": "Warning: {name} is not in packs_accept ({accept}): add it to that"
        " setting for it to be installed.",
    },
}


def _words() -> dict[str, Any]:
    return _TEXT[status.admin_language()]


def register(p_pack: argparse.ArgumentParser) -> None:
    """Fill in `meshportal pack` (the parser and its help are made by the CLI)."""
    pack_sub = p_pack.add_subparsers(dest="pack_command", required=True)
    p_publish = pack_sub.add_parser("publish", help="share a content pack this box serves")
    add_common_options(p_publish)
    p_publish.add_argument("name", metavar="NAME", help="the pack's folder name")
    p_publish.set_defaults(func=_guard(cmd_publish))

    p_list = pack_sub.add_parser("list", help="every pack of this box, local and received")
    add_common_options(p_list)
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(func=_guard(cmd_list), opens_data=True)

    p_remove = pack_sub.add_parser("remove", help="uninstall a pack received from another box")
    add_common_options(p_remove)
    p_remove.add_argument("name", metavar="NAME", help="the pack's name")
    p_remove.set_defaults(func=_guard(cmd_remove), opens_data=True)

    p_accept = pack_sub.add_parser("accept", help="take a removed pack again")
    add_common_options(p_accept)
    p_accept.add_argument("name", metavar="NAME", help="the pack's name")
    p_accept.set_defaults(func=_guard(cmd_accept), opens_data=True)


def _guard(command: Command) -> Command:
    return guard(command, lambda: str(_words()["need_daemon"]))


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    words = _words()
    # archiving and hashing a large pack on a Pi takes a few seconds
    answer = ask(settings, {"cmd": "pack.publish", "name": args.name}, wait=120)
    print(words["published"].format(**{**answer, "hash": str(answer["hash"])[:12]}))
    print(words["next"])
    return EXIT_OK


# --- list ------------------------------------------------------------------------------------


def _offline_rows(settings: Settings) -> list[dict[str, Any]]:
    """The rows as the next start will serve: from the disk and the database."""
    from meshportal.app import content_dir
    from meshportal.mesh.peers import PeerTable
    from meshportal.pack_catalog import parse_accept
    from meshportal.pack_disk import read_index
    from meshportal.pack_listing import pack_rows, would_serve
    from meshportal.pack_withdrawals import WithdrawalTable
    from meshportal.packs import load_packs

    async def read(db: Any) -> list[dict[str, Any]]:
        trusted = (await PeerTable(db).vouched_ids()).__contains__
        accepts = parse_accept(settings.list_of("packs_accept"))
        withdrawn = await WithdrawalTable(db).all()
        shared = settings.data_dir / "packs"
        shipped, received = load_packs(content_dir(settings))[0], load_packs(shared)[0]
        publishers = {k: str(v.get("publisher", "")) for k, v in read_index(shared).items()}
        served = would_serve(shipped, received, publishers, withdrawn, trusted, accepts)
        rows = pack_rows(shipped, received, publishers, withdrawn, trusted, accepts,
                         [p.path for p in served])  # fmt: skip
        return [r.as_dict() for r in rows]

    rows: list[dict[str, Any]] = run_offline(settings, read)
    return rows


def _status_text(row: dict[str, Any], words: dict[str, Any]) -> str:
    from meshportal.pack_listing import NOT_ACCEPTED

    if row["status"] not in ("withdrawn", "pending"):
        return str(words[row["status"]])
    if row["reason"] == "removed":
        why = words["why_removed"].format(name=row["name"])
    elif row["reason"] == NOT_ACCEPTED:
        why = words["why_not_accepted"]
    else:
        why = words["why_untrusted"] if row["publisher"] else words["why_unknown"]
    return str(words[row["status"]].format(why=why))


def format_packs(rows: list[dict[str, Any]], words: dict[str, Any]) -> str:
    if not rows:
        return str(words["none"])
    table = [list(words["head"])]
    for row in rows:
        if row["origin"] == "local":
            publisher = words["this_box"]
        else:
            publisher = (
                row["publisher"][:8] + "…" if row["publisher"] else words["unknown_publisher"]
            )
        table.append([row["name"], row["version"] or "-", publisher, _short_path(row["path"]),
                      _status_text(row, words)])  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[4]
        for line in table
    )


def _short_path(path: str) -> str:
    if not path:
        return "-"
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + "/") else path


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if daemon_running(settings):
        rows = ask(settings, {"cmd": "pack.list"})["packs"]
    else:
        rows = _offline_rows(settings)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        print(format_packs(rows, _words()))
    return EXIT_OK


# --- remove and accept -------------------------------------------------------------------------


def _refusal(problem: str, name: str, words: dict[str, Any]) -> CommandError:
    return CommandError(words[problem].format(name=name), EXIT_CONFIG)


def _remove_offline(settings: Settings, name: str) -> tuple[str, str]:
    """Record the removal; the daemon withdraws the folder at its next start."""
    from meshportal.app import content_dir
    from meshportal.pack_disk import read_index, received_folders
    from meshportal.pack_listing import removal_problem
    from meshportal.pack_withdrawals import WithdrawalTable, removal
    from meshportal.packs import load_packs

    async def work(db: Any) -> tuple[str, str]:
        table = WithdrawalTable(db)
        withdrawn = await table.all()
        shared = settings.data_dir / "packs"
        shipped = load_packs(content_dir(settings))[0]
        problem = removal_problem(name, received_folders(shared), withdrawn, shipped)
        if problem:
            return problem, ""
        item = removal(name, read_index(shared).get(name), withdrawn.get(name))
        await table.record(item)
        return "", item.version

    done: tuple[str, str] = run_offline(settings, work)
    return done


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    words = _words()
    if not daemon_running(settings):
        problem, version = _remove_offline(settings, args.name)
        if problem:
            raise _refusal(problem, args.name, words)
        print(words["saved_offline"])
        print(words["removed"].format(name=args.name, version=version))
        return EXIT_OK
    answer = ask(settings, {"cmd": "pack.remove", "name": args.name}, wait=60)
    if answer.get("refused"):
        raise _refusal(str(answer["refused"]), args.name, words)
    print(words["removed"].format(**answer))
    if answer.get("local"):
        print(words["local_again"].format(name=args.name, version=answer["local"]))
    return EXIT_OK


def cmd_accept(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal.pack_catalog import parse_accept

    words = _words()
    if daemon_running(settings):
        answer = ask(settings, {"cmd": "pack.accept", "name": args.name})
        lifted, accepted = bool(answer["lifted"]), bool(answer["accepted"])
        accept_list = list(answer["accept"])
    else:
        from meshportal.pack_withdrawals import REMOVED, WithdrawalTable

        lifted = run_offline(settings, lambda db: WithdrawalTable(db).forget(args.name, REMOVED))
        accept_list = settings.list_of("packs_accept")
        accepted = parse_accept(accept_list)(args.name)
        if lifted:
            print(words["saved_offline"])
    print(words["accepted" if lifted else "not_refused"].format(name=args.name))
    if not accepted:
        accept = ", ".join(accept_list) or "-"
        print(words["not_in_accept"].format(name=args.name, accept=accept))
    return EXIT_OK
