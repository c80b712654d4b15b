"""Check generated AP files with the tools themselves, and say what is wrong plainly."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REQUIRED_HOSTAPD = ("interface", "ssid2", "country_code", "channel", "hw_mode")


@dataclass(frozen=True)
class Finding:
    file: str
    ok: bool
    message: str


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def check_dnsmasq(path: Path) -> Finding:
    tool = shutil.which("dnsmasq")
    if tool is None:
        return Finding(path.name, False, "dnsmasq is not installed: apt-get install dnsmasq")
    code, out = _run([tool, "--test", f"--conf-file={path}"])
    if code == 0:
        return Finding(path.name, True, "dnsmasq accepts it")
    return Finding(path.name, False, f"dnsmasq refuses it: {out.splitlines()[-1] if out else code}")


def check_nftables(path: Path) -> Finding:
    tool = shutil.which("nft")
    if tool is None:
        return Finding(path.name, False, "nft is not installed: apt-get install nftables")
    code, out = _run([tool, "-c", "-f", str(path)])
    if code == 0:
        return Finding(path.name, True, "nft accepts it")
    if "Operation not permitted" in out:
        return Finding(path.name, False, "nft needs root to check a ruleset: run as root")
    return Finding(path.name, False, f"nft refuses it: {out.splitlines()[0] if out else code}")


def check_hostapd(path: Path) -> Finding:
    """hostapd has no dry run: check the keys we rely on and their values ourselves."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "=" not in line:
            return Finding(path.name, False, f"line {number} is not key=value: {line[:40]!r}")
        key, _, value = line.partition("=")
        values[key.strip()] = value
    missing = [k for k in REQUIRED_HOSTAPD if k not in values]
    if missing:
        return Finding(path.name, False, f"missing {', '.join(missing)}")
    try:
        ssid = bytes.fromhex(values["ssid2"])
    except ValueError:
        return Finding(path.name, False, "ssid2 is not hexadecimal")
    if not 1 <= len(ssid) <= 32:
        return Finding(path.name, False, f"the SSID is {len(ssid)} bytes; 1 to 32 allowed")
    if values.get("wpa") == "2" and not 8 <= len(values.get("wpa_passphrase", "")) <= 63:
        return Finding(path.name, False, "WPA2 is on but the passphrase is not 8 to 63 characters")
    return Finding(path.name, True, "the keys hostapd needs are present and valid")


def check_folder(folder: Path) -> list[Finding]:
    findings: list[Finding] = []
    for name, checker in (
        ("hostapd.conf", check_hostapd),
        ("dnsmasq.conf", check_dnsmasq),
        ("nftables.conf", check_nftables),
    ):
        path = folder / name
        if not path.is_file():
            findings.append(Finding(name, False, "missing: run `meshportal ap render` first"))
        else:
            findings.append(checker(path))
    return findings
