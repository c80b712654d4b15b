"""Interop with a real mDNS stack: avahi-daemon in its own namespace, next to our daemon.

avahi must see our service and its TXT records; our daemon must ignore
avahi's services of other types and a `_meshportal._tcp` record that is not
a valid advert, and must list a valid one that avahi publishes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from meshportal.identity import node_id_from_public_key
from meshportal.mesh.advert import instance_name
from tests.mesh.lab import Box, Lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]

DBUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

AVAHI_CONF = """[server]
host-name={host}
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=yes
publish-hinfo=no
"""

SERVICE = """<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>{name}</name>
  <service>
    <type>{type}</type>
    <port>{port}</port>
    {txt}
  </service>
</service-group>
"""

# A valid advert published by avahi, for a node id nobody runs.
AVAHI_NODE = node_id_from_public_key(b"avahi-published-peer-key-32bytes")


def _service(name: str, service_type: str, port: int, txt: dict[str, str]) -> str:
    records = "\n    ".join(f"<txt-record>{k}={v}</txt-record>" for k, v in txt.items())
    return SERVICE.format(name=name, type=service_type, port=port, txt=records)


def _start_avahi(
    lab: Lab, box: Box, folder: Path, taken: str = "taken-name"
) -> tuple[subprocess.Popen[str], str]:
    for tool in ("avahi-daemon", "avahi-browse", "dbus-daemon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt install avahi-daemon avahi-utils dbus)")
    folder.mkdir(parents=True)
    bus = folder / "bus.sock"
    (folder / "dbus.conf").write_text(DBUS_CONF.format(socket=bus))
    (folder / "avahi.conf").write_text(AVAHI_CONF.format(host=f"{lab.prefix}av"))
    services = folder / "services"
    services.mkdir()
    (services / "http.service").write_text(_service("foreign-http", "_http._tcp", 80, {}))
    (services / "bad.service").write_text(
        _service("not-a-meshportal", "_meshportal._tcp", 7717, {"id": "garbage", "v": "1"})
    )
    (services / "clash.service").write_text(
        _service(taken, "_meshportal._tcp", 7718, {"id": "squatter", "v": "1"})
    )
    (services / "good.service").write_text(
        _service("avahi-box", "_meshportal._tcp", 7717, {
            "id": AVAHI_NODE, "v": "1", "port": "7717", "vv": "0" * 16, "name": "avahi-box",
        })
    )  # fmt: skip
    # `ip netns exec` gives a private mount namespace: the tmpfs mounts stay in
    # there, and avahi (exec'd last) keeps the PID we hold.
    script = (
        "set -e; mkdir -p /run/avahi-daemon; mount -t tmpfs tmpfs /run/avahi-daemon;"
        f" mount -t tmpfs tmpfs /etc/avahi/services; cp {services}/*.service /etc/avahi/services/;"
        f" dbus-daemon --config-file={folder}/dbus.conf --fork --print-pid > {folder}/dbus.pid;"
        f" exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {folder}/avahi.conf"
    )
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={bus}"}
    log = (folder / "avahi.log").open("w")
    process = lab.exec(box, "sh", "-c", script, stdout=log, stderr=log, env=env, text=True)
    log.close()
    return process, f"unix:path={bus}"


def _stop_avahi(process: subprocess.Popen[str], folder: Path) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    pid_file = folder / "dbus.pid"
    if pid_file.exists() and pid_file.read_text().strip():
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def _browse(lab: Lab, box: Box, bus: str) -> list[list[str]]:
    result = subprocess.run(
        ["ip", "netns", "exec", box.ns, "env", f"DBUS_SYSTEM_BUS_ADDRESS={bus}",
         "avahi-browse", "-rtp", "_meshportal._tcp"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return [line.split(";") for line in result.stdout.splitlines() if line.startswith("=")]


def test_avahi_sees_us_and_we_ignore_what_is_not_ours(lab: Lab, tmp_path: Path) -> None:
    ours, avahi_host = lab.host(1), lab.host(2)
    lab.start(ours)
    folder = tmp_path / "avahi"
    process, bus = _start_avahi(lab, avahi_host, folder)
    try:
        resolved: dict[str, list[str]] = {}

        def avahi_sees_both() -> bool:
            resolved.update({row[3]: row for row in _browse(lab, avahi_host, bus)})
            names = set(resolved)
            return "not-a-meshportal" in names and any(n.startswith("box1-") for n in names)

        took = wait_for(avahi_sees_both, 40, "avahi-browse lists our service")
        print(f"\navahi resolved our service in {took:.2f} s")
        row = next(r for name, r in resolved.items() if name.startswith("box1-"))
        assert row[7] == ours.ip and row[8] == "7717"
        txt = dict(item.strip('"').split("=", 1) for item in row[9].split(" ") if "=" in item)
        assert txt["id"] == ours.node_id and txt["v"] == "1" and txt["port"] == "7717"
        assert len(txt["vv"]) == 16 and txt["name"] == "box1"

        # Our daemon lists avahi's valid advert...
        wait_for(lambda: AVAHI_NODE in ours.peers(), 20, "our daemon sees avahi's valid advert")
        peer = ours.peers()[AVAHI_NODE]
        assert peer["addresses"] == [avahi_host.ip] and peer["name"] == "avahi-box"
        # ...and nothing else: not the bad record, not _http._tcp, not the workstation.
        time.sleep(2)
        assert set(ours.peers()) == {AVAHI_NODE}
        assert "Traceback" not in (ours.log.read_text() if ours.log else "")
    finally:
        _stop_avahi(process, folder)


def test_a_name_clash_gets_a_unique_name_that_survives_a_restart(lab: Lab, tmp_path: Path) -> None:
    ours, avahi_host = lab.host(1), lab.host(2)
    init = lab.cli(ours, "init")
    assert init.returncode == 0, init.stderr
    wanted = instance_name("box1", ours.node_id)
    folder = tmp_path / "avahi"
    process, bus = _start_avahi(lab, avahi_host, folder, taken=wanted)
    try:
        wait_for(lambda: wanted in {r[3] for r in _browse(lab, avahi_host, bus)}, 30, "squatter")
        lab.start(ours)

        def our_names() -> set[str]:
            return {r[3] for r in _browse(lab, avahi_host, bus) if r[7] == ours.ip}

        wait_for(lambda: bool(our_names()), 30, "our renamed service is visible")
        [renamed] = our_names()
        assert renamed != wanted and renamed.startswith(wanted)
        assert ours.ask("peer.list")["instance"] == renamed
        ours.stop()
        lab.start(ours)
        wait_for(lambda: ours.ask("peer.list")["instance"] == renamed, 20, "same name again")
    finally:
        _stop_avahi(process, folder)
