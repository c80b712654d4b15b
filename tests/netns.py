"""Real hosts for tests: network namespaces on a bridge (see shared/TESTHOSTS.md).

Every name carries a per-run prefix, every namespace is deleted in teardown, and all
traffic stays inside them: nothing here sends a packet from the root namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def require_netns(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", *tools):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("ip netns is not available here")


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Lan:
    prefix: str
    subnet: str  # e.g. "10.77.23"
    hosts: dict[str, str] = field(default_factory=dict)  # name -> namespace

    def ns(self, host: str) -> str:
        return self.hosts[host]

    def exec(self, host: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[host], *argv]

    def link(self, host: str, up: bool) -> None:
        sh(
            "ip",
            "-n",
            f"{self.prefix}sw",
            "link",
            "set",
            f"{self.prefix}{host}",
            "up" if up else "down",
        )


@contextmanager
def lan(*hosts: str, addressed: tuple[str, ...] = ()) -> Iterator[Lan]:
    """A bridge and one namespace per host; hosts in ``addressed`` get .1, .2, …"""
    prefix = "mp" + uuid.uuid4().hex[:5]
    subnet = f"10.{77 + int(prefix[2:4], 16) % 100}.{int(prefix[4:6], 16)}"
    net = Lan(prefix, subnet)
    sw = f"{prefix}sw"
    made: list[str] = []
    try:
        sh("ip", "netns", "add", sw)
        made.append(sw)
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        for n, host in enumerate(hosts, 1):
            ns = f"{prefix}{host}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            net.hosts[host] = ns
            peer = f"{prefix}{host}"[:15]
            sh(
                "ip",
                "link",
                "add",
                "eth0",
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                sw,
            )
            sh("ip", "-n", sw, "link", "set", peer, "master", "br0")
            sh("ip", "-n", sw, "link", "set", peer, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            if host in addressed:
                sh("ip", "-n", ns, "addr", "add", f"{subnet}.{n}/24", "dev", "eth0")
        yield net
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
        for ns in made:
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
