"""Where an admin command typed in a shell finds the box that systemd runs.

Under the unit, systemd hands the daemon its folders (``STATE_DIRECTORY``,
``RUNTIME_DIRECTORY``) and the configuration file is read.  An admin who types
``sudo meshportal status`` in a shell has none of that: the command looked in ``./data``
for a data folder and an admin socket that are in ``/var/lib/meshportal`` and
``/run/meshportal``, and told a running box's admin that meshportal was not running.

So on a box where the unit's data folder exists, an admin command given no data folder
(no ``--data``, no ``MESHPORTAL_DATA``) and run where there is no ``./data`` looks where
the unit puts things, as if systemd had started it.  ``init`` and ``serve`` never do:
they make or run a box where they are told, ``./data`` by default.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from meshportal.settings import ENV_PREFIX, SYSTEM_CONFIG

__all__ = ["ADMIN_COMMANDS", "unit_environment"]

# StateDirectory=, RuntimeDirectory= and ConfigurationDirectory= of systemd/meshportal.service
STATE = Path("/var/lib/meshportal")
RUNTIME = Path("/run/meshportal")
CONFIG = SYSTEM_CONFIG
ADMIN_COMMANDS = frozenset({"status", "reload", "settings", "peer", "pack", "admin"})


def unit_environment(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to `env`: the folders and configuration file the unit gives
    the daemon, when this is an admin command typed outside it on an installed box;
    none otherwise."""
    out: dict[str, str] = {}
    if (
        getattr(args, "command", None) not in ADMIN_COMMANDS
        or getattr(args, "data", None)
        or any(key in env for key in ("STATE_DIRECTORY", ENV_PREFIX + "DATA", "INVOCATION_ID"))
        or Path("data").exists()
        or not STATE.is_dir()
    ):
        return out
    out["STATE_DIRECTORY"] = str(STATE)
    if RUNTIME.is_dir() and "RUNTIME_DIRECTORY" not in env:
        out["RUNTIME_DIRECTORY"] = str(RUNTIME)
    named = getattr(args, "config", None) is not None or ENV_PREFIX + "CONFIG" in env
    if CONFIG.exists() and not named:
        out[ENV_PREFIX + "CONFIG"] = str(CONFIG)
    return out
