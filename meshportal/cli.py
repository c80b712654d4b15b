"""The `meshportal` command: parsing, then one function per subcommand.

Errors become one plain line on stderr and a distinct exit code, listed in
``EXIT_CODES`` (and in the README), so scripts and systemd can tell them apart.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from meshportal import __version__, admin, daemon, data_owner, identity, installed_box
from meshportal.cli_common import (
    EXIT_CANNOT_START,
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    add_common_options,
)
from meshportal.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    default_config_path,
    load_settings,
    read_config_file,
)
from meshportal.store import CorruptDatabase, ForeignDatabase, NewerSchema, StoreError

Command = Callable[[argparse.Namespace, Settings], int]

# Subcommands whose code lives in a module of its own, each with a ``register(parser)``
# that fills in the parser made here.  A module is imported only when its subcommand is
# the one asked for (or to print the whole reference): `meshportal serve`, the daemon,
# never loads them, and idle memory and time to ready are budgets (issue 2).
EXTRA_COMMANDS: dict[str, tuple[str, str]] = {
    "ap": ("meshportal.cli_ap", "generate and check the Wi-Fi access point configuration"),
    "peer": ("meshportal.cli_peer", "neighbouring boxes: list, add, trust, pair"),
    "pack": ("meshportal.cli_pack", "content packs: publish, list, remove, accept"),
    "admin": ("meshportal.cli_admin", "wiki moderators: set their password"),
}
ALL_COMMANDS = tuple(EXTRA_COMMANDS)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with our configuration code."""

    def error(self, message: str) -> Any:  # pragma: no cover - argparse path
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"meshportal: {message}\n")


def build_parser(full: Sequence[str] = ALL_COMMANDS) -> argparse.ArgumentParser:
    """The whole command line; the subcommands of `EXTRA_COMMANDS` named in `full` get
    their options, the others only their name and help (enough for `--help`)."""
    parser = _Parser(prog="meshportal", description="The daemon of a booture.")
    parser.add_argument("--version", action="version", version=f"meshportal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_init = sub.add_parser("init", help="create the data folder, database and identity")
    add_common_options(p_init)
    p_init.add_argument(
        "--owner",
        metavar="USER",
        help="as root: the user a new data folder is for (on a box: meshportal);"
        " else the owner of the folder above it",
    )
    p_init.set_defaults(func=cmd_init, opens_data=True)

    p_serve = sub.add_parser("serve", help="run the daemon")
    add_common_options(p_serve)
    for setting in SETTINGS:
        if setting.name != "data":
            p_serve.add_argument(
                setting.flag, dest=setting.name, metavar="VALUE", help=setting.help
            )
    p_serve.set_defaults(func=cmd_serve, opens_data=True)

    p_status = sub.add_parser("status", help="show the box, its visitors, peers and sync")
    add_common_options(p_status)
    p_status.add_argument("--json", action="store_true", help="machine-readable output")
    p_status.set_defaults(func=cmd_status)

    p_reload = sub.add_parser("reload", help="read the content packs again (same as SIGHUP)")
    add_common_options(p_reload)
    p_reload.set_defaults(func=cmd_reload)

    p_settings = sub.add_parser("settings", help="list every setting and its current value")
    add_common_options(p_settings)
    p_settings.add_argument(
        "--reference", action="store_true", help="print the README's generated reference"
    )
    p_settings.set_defaults(func=cmd_settings)

    for name, (module, help_text) in EXTRA_COMMANDS.items():
        extra = sub.add_parser(name, help=help_text)
        if name in full:
            importlib.import_module(module).register(extra)
    return parser


def resolve_settings(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    config_path: Path | None = args.config or default_config_path(env)
    file_values = read_config_file(config_path) if config_path else {}
    flags = {s.name: getattr(args, s.name, None) for s in SETTINGS}
    return load_settings(file_values, env, flags)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    ident, created = asyncio.run(daemon.initialise(settings.data_dir))
    verb = "created" if created else "already there"
    print(f"meshportal: data folder {settings.data_dir} ready; identity {verb}")
    print(f"node id: {ident.node_id}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    # No mallopt() here for fewer malloc arenas: the unit sets MALLOC_ARENA_MAX, and doing
    # it from Python needs ctypes, which costs more than it saves (see the unit's comment).
    logging.basicConfig(
        level=settings["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with asyncio.Runner(loop_factory=daemon.new_event_loop_factory()) as runner:
        runner.run(daemon.serve(settings))
    return EXIT_OK


def cmd_reload(args: argparse.Namespace, settings: Settings) -> int:
    path = admin.socket_path(settings["admin_socket"], settings.data_dir)
    try:
        answer = admin.ask(path, {"cmd": "reload"})
    except admin.AdminUnavailable:
        print("meshportal: the daemon is not running", file=sys.stderr)
        return EXIT_NOT_RUNNING
    for problem in answer.get("problems", []):
        print(f"meshportal: skipped: {problem}", file=sys.stderr)
    print("meshportal: packs: " + (", ".join(answer.get("packs", [])) or "-"))
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from meshportal import status

    path = admin.socket_path(settings["admin_socket"], settings.data_dir)
    lang = status.admin_language()
    try:
        report = admin.ask(path, {"cmd": "status"})
        code = EXIT_OK
    except admin.AdminUnavailable:
        report = status.offline_report(settings.data_dir)
        code = EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(status.format_report(report, lang))
    return code


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.reference:
        from meshportal.reference import reference

        print(reference(build_parser(), EXIT_CODES))
        return EXIT_OK
    for setting in SETTINGS:
        print(f"{setting.name} = {settings[setting.name]!r}  ({settings.sources[setting.name]})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_asked_for(argv))
    args = parser.parse_args(argv)
    # typed in a shell on an installed box: look where the unit puts things (in the
    # process environment, where the admin socket's path reads RUNTIME_DIRECTORY)
    os.environ.update(installed_box.unit_environment(args, os.environ))
    env = dict(os.environ)
    try:
        settings = resolve_settings(args, env)
        if getattr(args, "opens_data", False):
            # Commands that open the data folder (their parser sets opens_data) run as
            # its owner when started as root, before they open anything: see data_owner.
            data_owner.act_as_data_owner(settings.data_dir, getattr(args, "owner", None))
        command: Command = args.func
        return command(args, settings)
    except (SettingsError, data_owner.OwnerError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except (daemon.StartError, StoreError, identity.IdentityError) as exc:
        refused = isinstance(exc, CorruptDatabase | ForeignDatabase | NewerSchema)
        return _fail(str(exc), EXIT_DATABASE if refused else EXIT_CANNOT_START)
    except admin.AdminDenied as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"meshportal: {message}", file=sys.stderr)
    return code


def _asked_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The extra subcommand on the command line, if any: the first word that is not an
    option (the top-level parser has only --help and --version, which take no value)."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return (first,) if first in EXTRA_COMMANDS else ()


if __name__ == "__main__":
    sys.exit(main())
