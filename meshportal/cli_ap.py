"""`meshportal ap render` and `meshportal ap check`: the Wi-Fi access point's files."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from captive.apcheck import check_folder
from captive.apconfig import APConfigError, APParams, render
from meshportal.settings import Settings

EXIT_BAD_INPUT = 2


def _existing_networks(interface: str) -> tuple[str, ...]:
    """Subnets already on the box's other interfaces, so the AP's cannot overlap them."""
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
        links = json.loads(out or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ()
    found = []
    for link in links:
        if link.get("ifname") in (interface, "lo"):
            continue
        for info in link.get("addr_info", []):
            found.append(f"{info['local']}/{info['prefixlen']}")
    return tuple(found)


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    params = APParams(
        interface=args.interface,
        ssid=args.ssid,
        address=args.address,
        port=args.port if args.port is not None else int(settings["port"]),
        names=tuple(args.name or [settings["portal_name"]]),
        country=args.country,
        channel=args.channel,
        passphrase=os.environ.get("MESHPORTAL_AP_PASSPHRASE") if args.wpa2 else None,
        lease_time=args.lease_time,
        existing_networks=_existing_networks(args.interface),
    )
    if args.wpa2 and params.passphrase is None:
        print("meshportal: --wpa2 needs the passphrase in $MESHPORTAL_AP_PASSPHRASE")
        return EXIT_BAD_INPUT
    try:
        files = render(params)
    except APConfigError as exc:
        print(f"meshportal: {exc}")
        return EXIT_BAD_INPUT
    out = Path(args.out)
    for name, content in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        if name == "hostapd.conf" and params.passphrase:
            path.chmod(0o600)  # it holds the passphrase
    print(f"meshportal: wrote {len(files)} files to {out}")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    findings = check_folder(Path(args.folder))
    for finding in findings:
        mark = "ok " if finding.ok else "ERR"
        print(f"{mark} {finding.file}: {finding.message}")
    return 0 if all(f.ok for f in findings) else 1


def register(ap: argparse.ArgumentParser) -> None:
    """Fill in `meshportal ap` (the parser and its help are made by the CLI)."""
    ap_sub = ap.add_subparsers(dest="ap_command", required=True, parser_class=type(ap))
    render_parser = ap_sub.add_parser("render", help="write hostapd, dnsmasq, nftables files")
    for flag, default, help_text in (
        ("--interface", "wlan0", "Wi-Fi interface"),
        ("--ssid", "booture", "network name (at most 32 bytes)"),
        ("--address", "10.42.0.1/24", "the box's address and prefix on the Wi-Fi"),
        ("--country", "FR", "regulatory country code"),
        ("--lease-time", "12h", "DHCP lease time"),
    ):
        render_parser.add_argument(flag, default=default, help=help_text)
    render_parser.add_argument("--channel", type=int, default=6, help="Wi-Fi channel")
    render_parser.add_argument("--port", type=int, help="daemon port (default: setting port)")
    render_parser.add_argument("--name", action="append", help="box name, repeatable")
    render_parser.add_argument(
        "--wpa2", action="store_true", help="protect with WPA2 ($MESHPORTAL_AP_PASSPHRASE)"
    )
    render_parser.add_argument("--out", default="ap", help="output folder")
    render_parser.add_argument("--data", help=argparse.SUPPRESS)
    render_parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    render_parser.set_defaults(func=cmd_render)
    check_parser = ap_sub.add_parser("check", help="validate generated files with the tools")
    check_parser.add_argument("folder", help="folder written by `ap render`")
    check_parser.add_argument("--data", help=argparse.SUPPRESS)
    check_parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    check_parser.set_defaults(func=cmd_check)
