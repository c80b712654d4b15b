"""`meshportal peer …`: list, add, trust, untrust and pair neighbouring boxes.

With the daemon running (it holds the data-folder lock) every command goes
through the admin socket, so the daemon's trust takes effect at once.  With
the daemon stopped, trust changes are written to the database directly and
apply at the next start; pairing needs the daemon (it needs the sync port).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from meshportal import identity, status
from meshportal.cli_common import (
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    add_common_options,
)
from meshportal.cli_daemon import CommandError, ask, daemon_running, guard, run_offline
from meshportal.settings import Settings

_TEXT = {
    "fr": {
        "none": "aucune boîte voisine connue",
        "trusted": "de confiance",
        "untrusted": "NON approuvée",
        "revoked": "révoquée",
        "blocked": "bloquée (modifications falsifiées ; l'approuver à nouveau la débloque)",
        "online": "visible",
        "offline": "absente",
        "seen": "vue il y a",
        "never": "jamais",
        "synced": "synchro",
        "behind_ahead": "retard/avance",
        "error": "erreur",
        "saved_offline": "enregistré (le démon est arrêté : effet au prochain démarrage)",
        "trust_ok": "{id} est maintenant de confiance",
        "untrust_ok": "{id} est révoquée : plus de synchro, ses changements futurs seront refusés",
        "packs_withdrawn": "Packs de contenu qu'elle a signés, retirés : {names}",
        "added": "ajoutée : {host}:{port}, identifiant {id}",
        "added_unreached": "ajoutée : {host}:{port} (injoignable pour l'instant : {why})",
        "code": "Code d'appairage : {code}   (valable {min} min, un seul essai)",
        "on_other": "Sur l'autre boîte : meshportal peer pair {code}",
        "this_id": "Identifiant de cette boîte : {id}",
        "paired": "Appairée avec {id} — vérifiez qu'il s'affiche bien sur l'autre boîte.",
        "failed": "Échec : un code faux a été essayé ; le code est annulé. Recommencez.",
        "expired": "Le code a expiré sans être utilisé.",
        "joined": "Appairée avec {id} ({addr}) — vérifiez que c'est l'identifiant affiché"
        " sur l'autre boîte.",
        "need_daemon": "le démon ne tourne pas : lancez 'meshportal serve' d'abord",
    },
    "en": {
        "none": "no neighbouring box known",
        "trusted": "trusted",
        "untrusted": "NOT trusted",
        "revoked": "revoked",
        "blocked": "blocked (forged changes; trusting it again lifts it)",
        "online": "visible",
        "offline": "gone",
        "seen": "seen",
        "never": "never",
        "synced": "sync",
        "behind_ahead": "behind/ahead",
        "error": "error",
        "saved_offline": "saved (the daemon is stopped: takes effect at next start)",
        "trust_ok": "{id} is now trusted",
        "untrust_ok": "{id} is revoked: no more sync, its future changes will be refused",
        "packs_withdrawn": "Content packs it signed, withdrawn: {names}",
        "added": "added: {host}:{port}, node id {id}",
        "added_unreached": "added: {host}:{port} (not reachable yet: {why})",
        "code": "Pairing code: {code}   (valid {min} min, one try)",
        "on_other": "On the other box: meshportal peer pair {code}",
        "this_id": "This box's node id: {id}",
        "paired": "Paired with {id} — check that the other box shows the same.",
        "failed": "Failed: a wrong code was tried; the code is cancelled. Start again.",
        "expired": "The code expired unused.",
        "joined": "Paired with {id} ({addr}) — check it is the id shown on the other box.",
        "need_daemon": "the daemon is not running: start 'meshportal serve' first",
    },
}


def register(p_peer: argparse.ArgumentParser) -> None:
    """Fill in `meshportal peer` (the parser and its help are made by the CLI)."""
    peer_sub = p_peer.add_subparsers(dest="peer_command", required=True)

    p_list = peer_sub.add_parser("list", help="every box seen or trusted")
    add_common_options(p_list)
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(func=cmd_list, opens_data=True)

    p_add = peer_sub.add_parser("add", help="add a box mDNS cannot reach, by address")
    add_common_options(p_add)
    p_add.add_argument("address", metavar="HOST[:PORT]")
    p_add.set_defaults(func=cmd_add, opens_data=True)

    for name, helptext in (("trust", "trust a node id"), ("untrust", "revoke a node id")):
        p = peer_sub.add_parser(name, help=helptext)
        add_common_options(p)
        p.add_argument("node_id", metavar="NODEID")
        p.set_defaults(func=cmd_trust, trusted=name == "trust", opens_data=True)

    p_pair = peer_sub.add_parser("pair", help="pair two boxes with a one-time code")
    add_common_options(p_pair)
    p_pair.add_argument("code", nargs="?", metavar="CODE", help="the code the other box shows")
    p_pair.add_argument("--show", action="store_true", help="show a code for the other box")
    p_pair.add_argument("--host", metavar="HOST[:PORT]", help="the other box's address")
    p_pair.set_defaults(func=cmd_pair, opens_data=True)


def _words() -> dict[str, str]:
    return _TEXT[status.admin_language()]


def _offline(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(PeerTable)`` on the database, holding the lock (see cli_daemon)."""
    from meshportal.mesh.peers import PeerTable

    return run_offline(settings, lambda db: work(PeerTable(db)))


def _plain() -> tuple[type[Exception], ...]:
    from meshportal.mesh.pairing import PairingError
    from meshportal.mesh.peers import PeerError

    return PeerError, PairingError


def _guard(command: Callable[[argparse.Namespace, Settings], int]) -> Any:
    return guard(command, lambda: _words()["need_daemon"], _plain)


def _ago(then: float | None, words: dict[str, str]) -> str:
    if not then:
        return words["never"]
    return status.human_duration(max(0.0, time.time() - then))


def format_peers(peers: list[dict[str, Any]], words: dict[str, str]) -> str:
    if not peers:
        return words["none"]
    lines = []
    for p in peers:
        trust = "revoked" if p["revoked"] else "trusted" if p["trusted"] else "untrusted"
        where = ", ".join(p["addresses"]) or "-"
        if p.get("sync_port"):
            where += f" :{p['sync_port']}"
        lag = "-" if p["behind"] is None else f"{p['behind']}/{p['ahead']}"
        blocked = f", {words['blocked']}" if p.get("blocked") else ""
        lines.append(f"{p['name'] or '?'}  {p['node_id']}  {words[trust]}{blocked}")
        lines.append(
            f"    {words['online'] if p['online'] else words['offline']}, {where};"
            f" {words['seen']} {_ago(p['last_seen'], words)}; {words['synced']}"
            f" {_ago(p['last_sync'], words)}; {words['behind_ahead']} {lag};"
            f" ↓{status.human_bytes(p['bytes_in'])} ↑{status.human_bytes(p['bytes_out'])}"
            + (f"; {words['error']}: {p['last_error']}" if p["last_error"] else "")
        )
    return "\n".join(lines)


@_guard
def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if daemon_running(settings):
        peers = ask(settings, {"cmd": "peer.list"})["peers"]
    else:

        async def read(table: Any) -> list[dict[str, Any]]:
            return [p.as_dict() for p in await table.list()]

        peers = _offline(settings, read)
    if args.json:
        print(json.dumps(peers, indent=2, sort_keys=True))
    else:
        print(format_peers(peers, _words()))
    return EXIT_OK


@_guard
def cmd_trust(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal.mesh.peers import PeerError, check_node_id

    words = _words()
    node_id = check_node_id(args.node_id)
    if node_id == identity.read_node_id(settings.data_dir):
        raise PeerError("this is this box's own node id")
    withdrawn: list[str] = []
    if daemon_running(settings):
        cmd = "peer.trust" if args.trusted else "peer.untrust"
        withdrawn = ask(settings, {"cmd": cmd, "node_id": node_id}).get("packs_withdrawn", [])
    else:
        _offline(settings, lambda table: table.set_trust(node_id, args.trusted))
        print(words["saved_offline"])
    print(words["trust_ok" if args.trusted else "untrust_ok"].format(id=node_id))
    if withdrawn:
        print(words["packs_withdrawn"].format(names=", ".join(withdrawn)))
    return EXIT_OK


@_guard
def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal.mesh.peers import parse_host_port

    words = _words()
    host, port = parse_host_port(args.address, settings["sync_port"])
    if not daemon_running(settings):
        _offline(settings, lambda table: table.add_manual(host, port))
        print(words["saved_offline"])
        return EXIT_OK
    answer = ask(settings, {"cmd": "peer.add", "address": args.address}, wait=15)
    if answer.get("node_id"):
        print(words["added"].format(host=host, port=answer["port"], id=answer["node_id"]))
    else:
        print(
            words["added_unreached"].format(host=host, port=answer["port"], why=answer["problem"])
        )
    return EXIT_OK


@_guard
def cmd_pair(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal.mesh.pairing import PairingError, normalise_code

    words = _words()
    if args.show == bool(args.code):
        raise PairingError("give either --show (on the first box) or CODE (on the second box)")
    if not daemon_running(settings):
        raise CommandError(words["need_daemon"], EXIT_NOT_RUNNING)
    if args.code:
        code = normalise_code(args.code)
        request = {"cmd": "peer.pair.join", "code": code, "address": args.host or ""}
        answer = ask(settings, request, wait=60)
        print(words["this_id"].format(id=identity.read_node_id(settings.data_dir)))
        print(words["joined"].format(id=answer["peer"], addr=answer["address"]))
        return EXIT_OK
    offer = ask(settings, {"cmd": "peer.pair.show"}, wait=30)
    print(words["code"].format(code=offer["code"], min=round(offer["expires_in"] / 60)))
    print(words["on_other"].format(code=offer["code"]))
    print(words["this_id"].format(id=offer["node_id"]), flush=True)
    deadline = time.monotonic() + offer["expires_in"] + 2
    while time.monotonic() < deadline:
        state = ask(settings, {"cmd": "peer.pair.state"})
        if state["state"] == "paired":
            print(words["paired"].format(id=state["peer"]))
            return EXIT_OK
        if state["state"] in ("failed", "expired"):
            print(words[state["state"]])
            return EXIT_FAILURE
        time.sleep(1)
    print(words["expired"])
    return EXIT_FAILURE
