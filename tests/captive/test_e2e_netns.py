"""The portal end to end with real parts: dnsmasq, nftables, the daemon, a DHCP client,
and Debian's Chromium, in a box namespace and a visitor namespace on a bridge."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from captive.apconfig import APParams, render
from tests.conftest import ROOT, cli_env
from tests.netns import Lan, lan, require_netns

PORT = 8080
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = [pytest.mark.netns, pytest.mark.slow]

HOOK = """#!/bin/sh
# udhcpc hook: configure eth0 ourselves (never the stock script: it rewrites the
# root namespace's resolv.conf) and record what the server sent.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    ip route replace default via "$router" dev "$interface"
    env > "{out}"
    ;;
esac
"""


class Box:
    def __init__(self, net: Lan, workdir: Path) -> None:
        self.net = net
        self.ip = f"{net.subnet}.1"
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        files = render(
            APParams(
                interface="eth0",
                ssid="Booture test",
                address=f"{self.ip}/24",
                port=PORT,
                names=("booture.lan",),
                lease_time="10m",
            )
        )
        conf = self.workdir / "ap"
        for name, content in files.items():
            (conf / name).parent.mkdir(parents=True, exist_ok=True)
            (conf / name).write_text(content)
        subprocess.run(
            self.net.exec("box", "nft", "-f", str(conf / "nftables.conf")),
            check=True,
            capture_output=True,
        )
        with (self.workdir / "dnsmasq.log").open("wb") as log:
            dnsmasq = subprocess.Popen(
                self.net.exec(
                    "box", "dnsmasq", "--keep-in-foreground",
                    f"--conf-file={conf / 'dnsmasq.conf'}", "--pid-file=",
                    f"--dhcp-leasefile={self.workdir / 'leases'}", "--user=root",
                    "--log-facility=-",
                ),
                stdout=log, stderr=log,
            )  # fmt: skip
        self.processes.append(dnsmasq)
        with (self.workdir / "daemon.log").open("wb") as daemon_log:
            daemon = subprocess.Popen(
                self.net.exec(
                    "box", sys.executable, "-m", "meshportal", "serve",
                    "--data", str(self.workdir / "data"), "--host", "0.0.0.0",
                    "--port", str(PORT),
                ),
                stdout=subprocess.PIPE, stderr=daemon_log, cwd=ROOT,
                env=cli_env(MESHPORTAL_BOX_HOSTS=self.ip),
            )  # fmt: skip
        self.processes.append(daemon)
        assert daemon.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = daemon.stdout.readline().decode()
            if "ready on" in line:
                return
            if daemon.poll() is not None:
                break
        raise AssertionError((self.workdir / "daemon.log").read_text())

    def stop(self) -> None:
        for process in reversed(self.processes):  # only ours, by PID
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            if process.stdout:
                process.stdout.close()


@pytest.fixture
def portal_lan(tmp_path: Path) -> Iterator[tuple[Lan, Box]]:
    require_netns("dnsmasq", "busybox", "nft")
    with lan("box", "vis", addressed=("box",)) as net:
        box = Box(net, tmp_path)
        try:
            box.start()
            resolv = Path("/etc/netns") / net.ns("vis")
            resolv.mkdir(parents=True, exist_ok=True)
            (resolv / "resolv.conf").write_text(f"nameserver {box.ip}\n")
            yield net, box
        finally:
            box.stop()


def test_a_phone_joins_probes_accepts_and_goes_online(
    portal_lan: tuple[Lan, Box], tmp_path: Path
) -> None:
    net, box = portal_lan
    hook, env_out = tmp_path / "udhcpc-hook.sh", tmp_path / "lease.env"
    hook.write_text(HOOK.format(out=env_out))
    hook.chmod(0o755)
    began = time.monotonic()
    subprocess.run(
        net.exec(
            "vis",
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-O",
            "114",
            "-s",
            str(hook),
        ),
        check=True,
        capture_output=True,
        timeout=60,
    )
    lease_seconds = time.monotonic() - began
    lease = dict(line.split("=", 1) for line in env_out.read_text().splitlines() if "=" in line)
    assert lease["ip"].startswith(net.subnet + ".") and lease["router"] == box.ip
    option_114 = bytes.fromhex(lease["opt114"]).decode()
    assert option_114 == "http://booture.lan/api/captive"
    print(f"first DHCP lease in {lease_seconds:.2f} s")

    done = subprocess.run(
        net.exec(
            "vis",
            sys.executable,
            str(ROOT / "tests" / "captive" / "visitor_client.py"),
            "booture.lan",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["resolved"].values()) == {box.ip}
    for host, answer in report["before"].items():
        assert answer["status"] == 302, host
        assert answer["location"] == "http://booture.lan/", host
    assert report["enter"]["status"] == 303
    after = report["after"]
    assert after["connectivitycheck.gstatic.com"]["status"] == 204
    assert after["connectivitycheck.gstatic.com"]["body"] == ""
    assert after["captive.apple.com"]["body"] == (
        "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
    )
    assert after["www.msftconnecttest.com"]["body"] == "Microsoft Connect Test"
    assert after["detectportal.firefox.com"]["body"] == "success\n"
    assert after["nmcheck.gnome.org"]["body"].startswith("NetworkManager is online")
    assert report["https"] == "refused" and report["https_seconds"] < 1.0
    hardcoded = report["hardcoded"]
    assert hardcoded["status"] == 302 and hardcoded["location"] == "http://booture.lan/"


def test_chromium_lands_on_the_welcome_page(portal_lan: tuple[Lan, Box], tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    net, box = portal_lan
    # a static address is enough here: the DHCP path is proven above
    subprocess.run(
        ["ip", "-n", net.ns("vis"), "addr", "add", f"{net.subnet}.50/24", "dev", "eth0"], check=True
    )
    subprocess.run(
        ["ip", "-n", net.ns("vis"), "route", "add", "default", "via", box.ip], check=True
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "captive-welcome-360.png"
    done = subprocess.run(
        net.exec(
            "vis",
            sys.executable,
            str(ROOT / "tests" / "captive" / "browser_visit.py"),
            "http://www.example.org/some/page",
            str(shot),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**cli_env(), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    visit = json.loads(done.stdout.strip().splitlines()[-1])
    assert visit["url"] == "http://booture.lan/"
    assert visit["has_enter"] and visit["title"] == "booture"
    assert visit["lessons"] >= 1  # the welcome page leads to the lessons
    assert shot.stat().st_size > 2000
    assert shutil.which("ip")
