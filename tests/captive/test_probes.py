"""Every row of the probe table, the vendor paths, and hostile Host headers."""

from __future__ import annotations

import pytest

from captive.answers import ONLINE, online, to_portal
from captive.probes import PROBES, Kind, System, classify, normalise_host

BOX = frozenset({"booture.lan", "10.42.0.1"})


@pytest.mark.parametrize(("host_path", "system"), sorted(PROBES.items(), key=str))
def test_every_probe_row(host_path: tuple[str, str | None], system: System) -> None:
    host, path = host_path
    found = classify(host, path or "/any/path.html", "Mozilla/5.0", BOX)
    assert found.kind is Kind.PROBE and found.system is system
    # the same host with a port, upper case and a trailing dot is the same probe
    found = classify(host.upper() + ".:80", path or "/x", "", BOX)
    assert found.kind is Kind.PROBE and found.system is system


@pytest.mark.parametrize("host", ["connectivitycheck.smartisan.com", "g.cn", "10.0.0.9"])
@pytest.mark.parametrize("path", ["/generate_204", "/gen_204", "/generate_204?x=1"])
def test_vendor_hosts_with_android_paths(host: str, path: str) -> None:
    assert classify(host, path, "", BOX).system is System.ANDROID


def test_ios_probe_with_its_user_agent() -> None:
    found = classify(
        "captive.apple.com", "/hotspot-detect.html", "CaptiveNetworkSupport/1.0 wispr", BOX
    )
    assert found.system is System.APPLE


@pytest.mark.parametrize("host", ["booture.lan", "BOOTURE.LAN", "booture.lan:80", "10.42.0.1"])
def test_requests_for_the_box(host: str) -> None:
    assert classify(host, "/generate_204", "", BOX).kind is Kind.BOX


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "a" * 5000,
        "évil.com",
        "host:99999",
        "host:port",
        "[::1",
        "a b",
        "x/../../y",
        "\x00",
    ],
)
def test_absurd_hosts_are_foreign_never_box(host: str | None) -> None:
    assert classify(host, "/", "", BOX).kind is Kind.FOREIGN
    assert normalise_host(host) is None


def test_foreign_request() -> None:
    assert classify("www.example.org", "/index.html", "", BOX).kind is Kind.FOREIGN
    assert classify("198.51.100.7", "/", "", BOX).kind is Kind.FOREIGN
    assert normalise_host("[2001:DB8::1]:80") == "2001:db8::1"


def test_online_answers_are_exact() -> None:
    assert online(System.ANDROID).status == 204 and online(System.ANDROID).body == b""
    assert online(System.APPLE).body == (
        b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
    )
    assert online(System.WINDOWS).body == b"Microsoft Connect Test"
    assert online(System.WINDOWS_LEGACY).body == b"Microsoft NCSI"
    assert online(System.FIREFOX_SUCCESS).body == b"success\n"
    assert b"support.mozilla.org/kb/captive-portal" in online(System.FIREFOX_CANONICAL).body
    assert online(System.NETWORKMANAGER).headers["X-NetworkManager-Status"] == "online"
    assert online(System.FEDORA).body.startswith(b"OK")
    assert set(ONLINE) == set(System)


def test_portal_redirect_is_read_as_a_portal_by_every_system() -> None:
    answer = to_portal("http://booture.lan/")
    assert answer.status == 302 and answer.headers["Location"] == "http://booture.lan/"
    assert len(answer.body) > 4  # Android reads <= 4 bytes as a failed probe
    assert answer.headers["Cache-Control"] == "no-store"
