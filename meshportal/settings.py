"""The one settings table, and how a configuration is assembled from it.

Every setting is declared once, in ``SETTINGS``.  The TOML file, the
``MESHPORTAL_*`` environment variables, the command-line flags and the
README's reference are all derived from that table, so they cannot drift.
Precedence: defaults, then the file, then the environment, then flags.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_CONFIG = Path("/etc/meshportal/meshportal.toml")
ENV_PREFIX = "MESHPORTAL_"
# Variables with our prefix that are not settings: the config file's path, and
# where the test suite finds the shared traces.  Any other MESHPORTAL_* name is
# a typo that would otherwise be silently ignored.
NON_SETTING_ENV = frozenset(
    {ENV_PREFIX + "CONFIG", ENV_PREFIX + "SHARED", ENV_PREFIX + "AP_PASSPHRASE"}
)


class SettingsError(ValueError):
    """A configuration problem, always naming the key at fault."""

    def __init__(self, key: str, problem: str, source: str = "") -> None:
        where = f" ({source})" if source else ""
        super().__init__(f"setting '{key}'{where}: {problem}")
        self.key = key


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on", "oui"}:
        return True
    if lowered in {"0", "false", "no", "off", "non"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is between 0 and 65535, got {port}")
    return port


def _parse_positive(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"expected a positive number, got {raw}")
    return value


def _parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected one of debug, info, warning, error")
    return level


@dataclass(frozen=True)
class Setting:
    """One row of the table: its name, type, default and help text."""

    name: str
    type_name: str
    default: Any
    help: str
    parse: Callable[[str], Any]

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def coerce(self, value: Any) -> Any:
        """Turn a TOML value (already typed) or a string into this setting's type."""
        if isinstance(value, str):
            return self.parse(value)
        expected: dict[str, tuple[type, ...]] = {
            "str": (str,),
            "path": (str,),
            "int": (int,),
            "port": (int,),
            "bool": (bool,),
            "seconds": (int, float),
            "number": (int, float),
            "level": (str,),
        }
        # bool is an int in Python; a port of `true` must still be refused.
        if isinstance(value, bool) and self.type_name != "bool":
            raise ValueError(f"expected {self.type_name}, got a boolean")
        if not isinstance(value, expected[self.type_name]):
            raise ValueError(f"expected {self.type_name}, got {type(value).__name__}")
        return self.parse(str(value))


def _row(name: str, type_name: str, default: Any, help_text: str) -> Setting:
    parsers: dict[str, Callable[[str], Any]] = {
        "str": str,
        "path": str,
        "int": int,
        "port": _parse_port,
        "bool": _parse_bool,
        "seconds": _parse_positive,
        "number": _parse_positive,
        "level": _parse_log_level,
    }
    return Setting(name, type_name, default, help_text, parsers[type_name])


SETTINGS: tuple[Setting, ...] = (
    _row("data", "path", "./data",
         "Data folder: database, identity, lock. Under systemd, $STATE_DIRECTORY."),
    _row("host", "str", "127.0.0.1", "Address the web server listens on."),
    _row("port", "port", 8080, "TCP port of the web server."),
    _row("box_name", "str", "booture", "Human name of this box, shown to visitors and peers."),
    _row("admin_socket", "path", "",
         "Admin socket path. Empty: $RUNTIME_DIRECTORY/admin.sock, else DATA/admin.sock."),
    _row("admin_group", "str", "",
         "Group allowed to use the admin socket (besides root). Empty: the daemon's group."),
    _row("content_dir", "path", "",
         "Folder of content packs. Empty: the content/ folder shipped with meshportal."),
    _row("shutdown_timeout", "seconds", 5.0,
         "Seconds given to open requests to finish on SIGTERM before they are cut."),
    _row("log_level", "level", "info", "Log level: debug, info, warning or error."),
    _row("captive", "bool", True,
         "Answer phones' connectivity probes as a captive portal (off: a plain web site)."),
    _row("portal_name", "str", "booture.lan",
         "The box's DNS name on its Wi-Fi: visitors are sent to http://NAME/."),
    _row("box_hosts", "str", "",
         "Extra names and addresses meaning this box, comma-separated (portal_name, "
         "box_name, localhost and the listen address always do)."),
    _row("acceptance_lifetime", "seconds", 43200,
         "How long one tap on Enter lasts for a visitor's address; match the DHCP lease."),
    _row("probe_rate", "number", 2,
         "Connectivity probes per second allowed to one visitor, after a burst of 20."),
    _row("sync_port", "port", 7717,
         "TCP port of box-to-box sync (TLS), on the same address as the web server."
         " 0: any free port, announced by mDNS."),
    _row("discovery", "bool", True,
         "Announce this box and look for others by mDNS. Off when host is loopback."),
    _row("public_mode", "bool", False,
         "Accept any peer, trusted or not, for public content."),
    _row("mdns_ttl", "seconds", 120.0,
         "Lifetime of our mDNS records: a box that vanishes silently ages out after it."),
    _row("interface_check", "seconds", 5.0,
         "Seconds between checks for new network interfaces (a dongle, a cable)."),
    _row("pairing_timeout", "seconds", 300.0,
         "Seconds a pairing code stays valid."),
    _row("edit_rate", "number", 6,
         "Wiki saves per minute allowed to one visitor's device (moderators are not limited)."),
    _row("max_file_size", "int", 2_000_000,
         "Largest wiki attachment accepted, in bytes (images and PDF)."),
    _row("sync_interval", "seconds", 60.0,
         "Seconds between periodic syncs with peers not known to be even (with jitter);"
         " also the longest back-off after failures."),
    _row("files_budget_mb", "int", 2000,
         "Disk budget in MB for attachments (wiki files) and shared packs' archives:"
         " uploads and fetches from peers stop there."),
    _row("packs_accept", "str", "",
         "Content packs this box takes from trusted peers, comma-separated names;"
         " * for all, empty for none. Packs from untrusted publishers are never installed,"
         " and are withdrawn when their publisher is revoked or this list drops them."),
    _row("packs_max_mb", "int", 64,
         "Largest content pack archive, in MB, that this box shares or installs."),
)  # fmt: skip

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class Settings(Mapping[str, Any]):
    """A resolved configuration: every setting has a typed value."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.sources = dict(sources)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def data_dir(self) -> Path:
        return Path(self._values["data"])

    def list_of(self, key: str) -> list[str]:
        """A comma-separated setting as a list, blanks dropped."""
        return [part.strip() for part in str(self._values[key]).split(",") if part.strip()]


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the TOML file; unknown keys are refused by ``load_settings``."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError("config", f"file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("config", f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError("config", f"cannot read {path}: {exc.strerror}") from None


def default_config_path(env: Mapping[str, str]) -> Path | None:
    """The file read when none is named: the system one, only under systemd."""
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"])
    # INVOCATION_ID is set by systemd for every unit it starts.
    if env.get("INVOCATION_ID") and SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


def load_settings(
    file_values: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults, file, environment and flags, validating each value."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {s.name: s.parse(str(s.default)) for s in SETTINGS}
    sources: dict[str, str] = {s.name: "default" for s in SETTINGS}
    if env.get("STATE_DIRECTORY"):
        # systemd may list several folders separated by ':'; ours is the first.
        values["data"] = env["STATE_DIRECTORY"].split(":")[0]
        sources["data"] = "STATE_DIRECTORY"

    for key, raw in (file_values or {}).items():
        setting = SETTINGS_BY_NAME.get(key)
        if setting is None:
            raise SettingsError(key, "unknown key", "config file")
        try:
            values[key] = setting.coerce(raw)
        except ValueError as exc:
            raise SettingsError(key, str(exc), "config file") from None
        sources[key] = "file"

    for setting in SETTINGS:
        if setting.env_var in env:
            try:
                values[setting.name] = setting.parse(env[setting.env_var])
            except ValueError as exc:
                raise SettingsError(setting.name, str(exc), setting.env_var) from None
            sources[setting.name] = "env"
    for key in env:
        if key.startswith(ENV_PREFIX) and key not in NON_SETTING_ENV:
            name = key[len(ENV_PREFIX) :].lower()
            if name not in SETTINGS_BY_NAME:
                raise SettingsError(name, "unknown key", key)

    for key, raw in (flags or {}).items():
        if raw is None:
            continue
        setting = SETTINGS_BY_NAME[key]
        try:
            values[key] = setting.parse(str(raw))
        except ValueError as exc:
            raise SettingsError(key, str(exc), setting.flag) from None
        sources[key] = "flag"
    return Settings(values, sources)


def settings_reference() -> str:
    """The Markdown table of every setting, as the README shows it."""
    lines = [
        "| setting | type | default | environment | flag | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default != "" else "(empty)"
        lines.append(
            f"| `{s.name}` | {s.type_name} | {default} | `{s.env_var}` | `{s.flag}` | {s.help} |"
        )
    return "\n".join(lines)
