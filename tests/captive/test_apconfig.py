"""`meshportal ap render` and `ap check`: pure rendering, refused inputs, the real tools."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from captive.apcheck import check_folder
from captive.apconfig import APConfigError, APParams, render
from tests.conftest import run_cli

PARAMS = APParams(
    interface="wlan0",
    ssid="Booture des Tilleuls",
    address="10.42.0.1/24",
    port=8080,
    names=("booture.lan",),
)


def test_render_writes_what_the_portal_needs() -> None:
    files = render(PARAMS)
    dnsmasq = files["dnsmasq.conf"]
    for line in (
        "address=/#/10.42.0.1",
        "local=/#/",
        "no-ping",
        "no-resolv",
        'dhcp-option=114,"http://booture.lan/api/captive"',
        "interface=wlan0",
        "dhcp-range=10.42.0.11,10.42.0.254,255.255.255.0,12h",
    ):
        assert line in dnsmasq.splitlines(), line
    assert 'iifname "wlan0" tcp dport 80 redirect to :8080' in files["nftables.conf"]
    assert "tcp dport 443 redirect to :443" in files["nftables.conf"]  # refused, not served
    hostapd = files["hostapd.conf"]
    assert f"ssid2={b'Booture des Tilleuls'.hex()}" in hostapd
    assert "wpa=" not in hostapd  # open by default
    with_wpa = render(replace(PARAMS, passphrase="une phrase longue"))["hostapd.conf"]
    assert "wpa=2" in with_wpa and "wpa_passphrase=une phrase longue" in with_wpa
    assert "meshportal.service.d/ap.conf" in files


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interface": "wlan-trop-long-nom0"}, "1 to 15"),
        ({"interface": "wl an0"}, "letters"),
        ({"ssid": "é" * 17}, "34 bytes"),
        ({"ssid": ""}, "0 bytes"),
        ({"address": "10.42.0.1/30"}, "too small"),
        ({"address": "10.42.0.0/24"}, "network or broadcast"),
        ({"address": "8.8.8.1/24"}, "private"),
        ({"address": "10.42.0.1/33"}, "not IPv4"),
        ({"existing_networks": ("10.42.0.0/16",)}, "overlaps"),
        ({"passphrase": "court"}, "8 to 63"),
        ({"country": "france"}, "two capital"),
        ({"channel": 14}, "channel 14"),
        ({"names": ("Booture_LAN",)}, "not a valid DNS name"),
        ({"port": 0}, "between 1 and 65535"),
    ],
)
def test_bad_inputs_are_refused_clearly(change: dict[str, object], message: str) -> None:
    with pytest.raises(APConfigError, match=message):
        render(replace(PARAMS, **change))  # type: ignore[arg-type]


def test_cli_render_then_check(tmp_path: Path) -> None:
    out = tmp_path / "ap"
    result = run_cli(
        "ap",
        "render",
        "--out",
        str(out),
        "--interface",
        "wlan0",
        "--address",
        "10.99.50.1/24",
        "--name",
        "booture.lan",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "dnsmasq.conf").is_file() and (out / "hostapd.service.d").is_dir()
    check = run_cli("ap", "check", str(out))
    tools = shutil.which("dnsmasq") and shutil.which("nft") and os.geteuid() == 0
    if tools:
        assert check.returncode == 0, check.stdout
        assert check.stdout.count("ok ") == 3
    else:
        assert "hostapd.conf: the keys hostapd needs" in check.stdout


def test_cli_refuses_bad_input_with_code_2(tmp_path: Path) -> None:
    result = run_cli("ap", "render", "--out", str(tmp_path), "--ssid", "x" * 40)
    assert result.returncode == 2 and "SSID is 40 bytes" in result.stdout
    assert not (tmp_path / "hostapd.conf").exists()


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq is not installed")
def test_check_reports_a_broken_dnsmasq_file_in_plain_words(tmp_path: Path) -> None:
    for name, content in render(PARAMS).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    with (tmp_path / "dnsmasq.conf").open("a") as handle:
        handle.write("dhcp-range=nonsense\n")
    (tmp_path / "hostapd.conf").write_text("interface=wlan0\n")
    findings = {f.file: f for f in check_folder(tmp_path)}
    assert (
        not findings["dnsmasq.conf"].ok and "dnsmasq refuses it" in findings["dnsmasq.conf"].message
    )
    assert not findings["hostapd.conf"].ok and "missing ssid2" in findings["hostapd.conf"].message
