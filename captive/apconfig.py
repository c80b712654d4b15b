"""The access point's configuration for the standard Debian stack, generated, never typed.

``render`` is pure: parameters in, file names and contents out.  Every value that
lands in a file is validated first, so a bad input is a clear message and never a
configuration that fails at boot.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

IFNAME_MAX = 15  # the kernel's IFNAMSIZ minus the final NUL
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_NAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
CHANNELS_24 = range(1, 14)
CHANNELS_5 = (36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140)
MIN_PREFIX_HOSTS = 14  # a /28 at the least: room for a handful of visitors


class APConfigError(ValueError):
    """One input is wrong; the message names it and says what would be right."""


@dataclass(frozen=True)
class APParams:
    interface: str = "wlan0"
    ssid: str = "booture"
    address: str = "10.42.0.1/24"  # the box's address and prefix on the Wi-Fi
    port: int = 8080  # the daemon's HTTP port, where port 80 is redirected
    names: tuple[str, ...] = ("booture.lan",)
    country: str = "FR"
    channel: int = 6
    passphrase: str | None = None  # None: an open network, as a public place expects
    lease_time: str = "12h"
    existing_networks: tuple[str, ...] = field(default=())  # other subnets on the box

    @property
    def interface_address(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(self.address)


def validate(params: APParams) -> None:
    name = params.interface
    if not name or len(name) > IFNAME_MAX:
        raise APConfigError(f"interface name '{name}' must be 1 to {IFNAME_MAX} characters")
    if not _IFNAME_RE.match(name) or name in (".", ".."):
        raise APConfigError(f"interface name '{name}' may only hold letters, digits, _ . -")
    ssid_bytes = params.ssid.encode("utf-8")
    if not 1 <= len(ssid_bytes) <= 32:
        raise APConfigError(
            f"SSID is {len(ssid_bytes)} bytes in UTF-8; Wi-Fi allows 1 to 32 (accents count double)"
        )
    if params.passphrase is not None:
        if not 8 <= len(params.passphrase) <= 63 or not params.passphrase.isascii():
            raise APConfigError("WPA2 passphrase must be 8 to 63 ASCII characters")
        if not params.passphrase.isprintable():
            raise APConfigError("WPA2 passphrase must hold printable characters only")
    try:
        iface = params.interface_address
    except ValueError as exc:
        raise APConfigError(
            f"address '{params.address}' is not IPv4 address/prefix: {exc}"
        ) from None
    network = iface.network
    if network.num_addresses - 2 < MIN_PREFIX_HOSTS:
        raise APConfigError(f"subnet {network} is too small: use a /28 or larger (e.g. /24)")
    if iface.ip in (network.network_address, network.broadcast_address):
        raise APConfigError(f"{iface.ip} is the network or broadcast address of {network}")
    if not network.is_private or network.is_loopback or network.is_link_local:
        raise APConfigError(
            f"subnet {network} must be a private range (10/8, 172.16/12, 192.168/16)"
        )
    for other in params.existing_networks:
        try:
            taken = ipaddress.ip_network(other, strict=False)
        except ValueError:
            continue
        if taken.version == 4 and network.overlaps(taken):
            raise APConfigError(f"subnet {network} overlaps {taken}, already used on this box")
    if not 1 <= params.port <= 65535:
        raise APConfigError(f"daemon port {params.port} is not between 1 and 65535")
    if not params.names:
        raise APConfigError("give the box at least one name, e.g. booture.lan")
    for box_name in params.names:
        if not _NAME_RE.match(box_name):
            raise APConfigError(f"box name '{box_name}' is not a valid DNS name (lower case)")
    if not re.fullmatch(r"[A-Z]{2}", params.country):
        raise APConfigError(f"country code '{params.country}' must be two capital letters, e.g. FR")
    if params.channel not in CHANNELS_24 and params.channel not in CHANNELS_5:
        raise APConfigError(f"channel {params.channel} is not a 2.4 GHz (1-13) or 5 GHz channel")
    if not re.fullmatch(r"\d+[mh]|infinite", params.lease_time):
        raise APConfigError(f"lease time '{params.lease_time}' must look like 30m or 12h")


def _dhcp_range(iface: ipaddress.IPv4Interface) -> tuple[str, str]:
    hosts = list(iface.network.hosts()) if iface.network.num_addresses <= 1024 else None
    if hosts is None:
        first = iface.network.network_address + 10
        last = iface.network.broadcast_address - 5
    else:
        pool = [h for h in hosts if h != iface.ip]
        skip = min(9, len(pool) // 4)  # a few static addresses stay free at the start
        first, last = pool[skip], pool[-1]
    return str(first), str(last)


def render(params: APParams) -> dict[str, str]:
    """File name -> content of every generated file."""
    validate(params)
    iface = params.interface_address
    ip = str(iface.ip)
    first, last = _dhcp_range(iface)
    api_url = f"http://{params.names[0]}/api/captive"
    header = "# Generated by `meshportal ap render`. Edit the inputs, not this file.\n"
    hostapd = [
        header.rstrip("\n"),
        f"interface={params.interface}",
        "driver=nl80211",
        # ssid2 in hex: any UTF-8 name, with no quoting to get wrong.
        f"ssid2={params.ssid.encode('utf-8').hex()}",
        "utf8_ssid=1",
        f"country_code={params.country}",
        "ieee80211d=1",
        f"hw_mode={'g' if params.channel in CHANNELS_24 else 'a'}",
        f"channel={params.channel}",
        "ieee80211n=1",
        "wmm_enabled=1",
        "auth_algs=1",
        "ignore_broadcast_ssid=0",
    ]
    if params.passphrase is not None:
        hostapd += [
            "wpa=2",
            "wpa_key_mgmt=WPA-PSK",
            "rsn_pairwise=CCMP",
            f"wpa_passphrase={params.passphrase}",
        ]
    dnsmasq = [
        header.rstrip("\n"),
        f"interface={params.interface}",
        "bind-interfaces",
        "no-resolv",
        "no-hosts",
        # Every name is the box; local=/#/ gives other record types an empty answer
        # instead of REFUSED, which some phones take for a broken network.
        f"address=/#/{ip}",
        "local=/#/",
        *[f"host-record={name},{ip}" for name in params.names],
        f"dhcp-range={first},{last},{iface.netmask},{params.lease_time}",
        f"dhcp-option=option:router,{ip}",
        f"dhcp-option=option:dns-server,{ip}",
        f'dhcp-option=114,"{api_url}"',
        "dhcp-authoritative",
        "dhcp-rapid-commit",
        # no-ping: do not probe an address before leasing it (first lease 3 s -> 0.1 s).
        "no-ping",
    ]
    nftables = (
        f"{header}"
        "table ip meshportal_ap\n"
        "delete table ip meshportal_ap\n"
        "table ip meshportal_ap {\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\t# Port 80 to any address lands on the portal.\n"
        f'\t\tiifname "{params.interface}" tcp dport 80 redirect to :{params.port}\n'
        "\t\t# HTTPS is never answered (no certificate can be right offline): sent to the\n"
        "\t\t# box's own port 443, where nothing listens, it is refused at once, so a\n"
        "\t\t# browser falls back to http:// instead of waiting for a timeout.\n"
        f'\t\tiifname "{params.interface}" tcp dport 443 redirect to :443\n'
        "\t}\n"
        "}\n"
    )
    dropin = "/etc/meshportal/ap"
    return {
        "hostapd.conf": "\n".join(hostapd) + "\n",
        "dnsmasq.conf": "\n".join(dnsmasq) + "\n",
        "nftables.conf": nftables,
        "hostapd.service.d/meshportal.conf": (
            f"{header}[Unit]\nBefore=meshportal.service\n[Service]\nExecStart=\n"
            f"ExecStart=/usr/sbin/hostapd {dropin}/hostapd.conf\n"
        ),
        "dnsmasq.service.d/meshportal.conf": (
            f"{header}[Unit]\nAfter=hostapd.service\n[Service]\nExecStart=\n"
            f"ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file={dropin}/dnsmasq.conf\n"
        ),
        "meshportal.service.d/ap.conf": (
            f"{header}[Unit]\nWants=hostapd.service dnsmasq.service\n[Service]\n"
            f"ExecStartPre=+/usr/sbin/nft -f {dropin}/nftables.conf\n"
            f"Environment=MESHPORTAL_BOX_HOSTS={','.join([*params.names, ip])}\n"
        ),
    }
