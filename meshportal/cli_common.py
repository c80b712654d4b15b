"""What every `meshportal` subcommand shares: exit codes and the --data/--config options.

A module of its own so that command modules (cli_peer, cli_ap…) can use them without
importing the CLI that imports them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_NOT_RUNNING = 3
EXIT_CANNOT_START = 4
EXIT_DATABASE = 5
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "unexpected failure",
    EXIT_CONFIG: "bad configuration or command line",
    EXIT_NOT_RUNNING: "status: the daemon is not running",
    EXIT_CANNOT_START: "cannot start: data folder locked or unwritable, port in use",
    EXIT_DATABASE: "the database is corrupt, foreign or newer than this meshportal",
}


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", help="data folder (default ./data)")
    parser.add_argument("--config", metavar="FILE", type=Path, help="TOML configuration file")
