"""Which requests are connectivity probes, and of which operating system.

A pure function over (Host, path, User-Agent): no I/O, exhaustively unit-tested.
The table follows what the systems actually send (shared/PORTAL.md).  Paths match
as well as hosts, because phone vendors run their own probe hosts with Android's
paths (``/generate_204``, ``/gen_204``).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass


class Kind(enum.Enum):
    PROBE = "probe"  # a connectivity check of some OS
    BOX = "box"  # a request for the box itself
    FOREIGN = "foreign"  # anything else: another host, a hard-coded address


class System(enum.Enum):
    ANDROID = "android"
    CHROMEOS = "chromeos"
    APPLE = "apple"
    WINDOWS = "windows"
    WINDOWS_LEGACY = "windows-legacy"
    FIREFOX_CANONICAL = "firefox-canonical"
    FIREFOX_SUCCESS = "firefox-success"
    NETWORKMANAGER = "networkmanager"
    UBUNTU = "ubuntu"
    FEDORA = "fedora"


@dataclass(frozen=True)
class Classification:
    kind: Kind
    system: System | None = None


# (host, path or None for any path) -> system.  Hosts are lower-case, without port.
PROBES: dict[tuple[str, str | None], System] = {
    ("connectivitycheck.gstatic.com", "/generate_204"): System.ANDROID,
    ("www.google.com", "/generate_204"): System.ANDROID,
    ("www.google.com", "/gen_204"): System.ANDROID,
    ("play.googleapis.com", "/generate_204"): System.ANDROID,
    ("clients3.google.com", "/generate_204"): System.ANDROID,
    ("clients1.google.com", "/generate_204"): System.ANDROID,
    ("connectivitycheck.android.com", "/generate_204"): System.ANDROID,
    ("www.gstatic.com", "/generate_204"): System.CHROMEOS,
    ("captive.apple.com", None): System.APPLE,
    ("www.apple.com", "/library/test/success.html"): System.APPLE,
    ("www.appleiphonecell.com", None): System.APPLE,
    ("www.msftconnecttest.com", "/connecttest.txt"): System.WINDOWS,
    ("ipv6.msftconnecttest.com", "/connecttest.txt"): System.WINDOWS,
    ("www.msftncsi.com", "/ncsi.txt"): System.WINDOWS_LEGACY,
    ("detectportal.firefox.com", "/canonical.html"): System.FIREFOX_CANONICAL,
    ("detectportal.firefox.com", "/success.txt"): System.FIREFOX_SUCCESS,
    ("nmcheck.gnome.org", "/check_network_status.txt"): System.NETWORKMANAGER,
    ("network-test.debian.org", "/nm"): System.NETWORKMANAGER,
    ("connectivity-check.ubuntu.com", None): System.UBUNTU,
    ("fedoraproject.org", "/static/hotspot.txt"): System.FEDORA,
}
# Any host: the paths vendors copy from Android.
PROBE_PATHS: dict[str, System] = {
    "/generate_204": System.ANDROID,
    "/gen_204": System.ANDROID,
}

_HOST_RE = re.compile(r"^[a-z0-9.-]{1,253}$")
_MAX_HOST = 300


def normalise_host(raw: str | None) -> str | None:
    """The host name or address of a Host header, lower-cased, without port or final dot.

    Returns None for anything that is not a plausible host: such requests are foreign.
    """
    if not raw or len(raw) > _MAX_HOST:
        return None
    host = raw.strip().lower()
    if host.startswith("["):  # IPv6 literal, maybe with a port
        end = host.find("]")
        if end < 0:
            return None
        literal = host[1:end]
        try:
            return str(ipaddress.IPv6Address(literal))
        except ValueError:
            return None
    if host.count(":") == 1:
        host, port = host.split(":")
        if not port.isdigit() or int(port) > 65535:
            return None
    host = host.rstrip(".")
    return host if _HOST_RE.match(host) else None


def classify(
    host: str | None,
    path: str,
    user_agent: str,
    box_hosts: frozenset[str],
) -> Classification:
    """Classify a request.  ``box_hosts`` holds the box's names and addresses.

    The user agent is accepted for completeness of the signature (iOS marks its probes
    with ``CaptiveNetworkSupport``), but hosts and paths already decide: a probe sent
    by a browser must be answered the same way, or the OS and the browser disagree.
    """
    del user_agent  # see docstring: deliberately not needed to decide
    name = normalise_host(host)
    if name is not None and name in box_hosts:
        return Classification(Kind.BOX)
    clean_path = path.split("?", 1)[0]
    if name is not None:
        system = PROBES.get((name, clean_path)) or PROBES.get((name, None))
        if system is not None:
            return Classification(Kind.PROBE, system)
    system = PROBE_PATHS.get(clean_path)
    if system is not None:
        return Classification(Kind.PROBE, system)
    return Classification(Kind.FOREIGN)
