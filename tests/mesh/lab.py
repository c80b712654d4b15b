"""A small network of real hosts: network namespaces on a bridge (see shared/TESTHOSTS.md).

Every name carries a random prefix so parallel runs never collide, and
``close`` deletes the namespaces (their veths and bridge go with them).
Nothing here sends a packet from the root namespace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshportal import admin
from tests.conftest import ROOT, cli_env


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "network namespace tests need iproute2 (ip netns)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "ip netns does not work here: " + probe.stderr.decode().strip()
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Box:
    """A namespace with a meshportal daemon (once started)."""

    ns: str
    ip: str
    data: Path
    process: subprocess.Popen[str] | None = None
    log: Path | None = None

    def ask(self, cmd: str, **fields: Any) -> dict[str, Any]:
        return admin.ask(self.data / "admin.sock", {"cmd": cmd, **fields})

    def peers(self) -> dict[str, dict[str, Any]]:
        return {p["node_id"]: p for p in self.ask("peer.list")["peers"]}

    @property
    def node_id(self) -> str:
        from meshportal.identity import read_node_id

        node = read_node_id(self.data)
        assert node is not None
        return node

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)  # the PID is the daemon's: `ip netns exec` execs
            self.process.wait(timeout=20)


@dataclass
class Lab:
    root: Path
    prefix: str = field(default_factory=lambda: "mp" + secrets.token_hex(3))
    subnet: str = field(
        default_factory=lambda: f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"
    )
    boxes: list[Box] = field(default_factory=list)
    extra: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    def __post_init__(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")

    def host(self, index: int, link_up: bool = True) -> Box:
        ns = f"{self.prefix}-h{index}"
        _ip("netns", "add", ns)
        port = f"p{self.prefix[2:]}{index}"
        _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
            "netns", self.switch)  # fmt: skip
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        box = Box(ns, f"{self.subnet}.{index}", self.root / f"box{index}" / "data")
        if link_up:
            self.link_up(box)
        self.boxes.append(box)
        return box

    def link_up(self, box: Box) -> None:
        _ip("-n", box.ns, "link", "set", "eth0", "up")
        _ip("-n", box.ns, "addr", "add", f"{box.ip}/24", "dev", "eth0")

    def exec(self, box: Box, *argv: str, **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(["ip", "netns", "exec", box.ns, *argv], **kwargs)
        self.extra.append(process)
        return process

    def cli(self, box: Box, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", box.ns, sys.executable, "-m", "meshportal", *args,
             "--data", str(box.data)],
            capture_output=True, text=True, timeout=timeout, env=cli_env(LANG="en_GB.UTF-8"),
            cwd=ROOT, check=False,
        )  # fmt: skip

    def cli_background(self, box: Box, *args: str) -> subprocess.Popen[str]:
        return self.exec(
            box, sys.executable, "-m", "meshportal", *args, "--data", str(box.data),
            stdout=subprocess.PIPE, text=True, env=cli_env(LANG="en_GB.UTF-8"), cwd=ROOT,
        )  # fmt: skip

    def start(self, box: Box, host: str | None = None, *extra: str) -> None:
        box.data.parent.mkdir(parents=True, exist_ok=True)
        if box.process and box.process.stdout:
            box.process.stdout.close()  # a restart: the old pipe is done
        box.log = box.data.parent / "daemon.log"
        name = f"box{self.boxes.index(box) + 1}"
        argv = [
            "ip", "netns", "exec", box.ns, sys.executable, "-m", "meshportal", "serve",
            "--data", str(box.data), "--host", host or box.ip, "--port", "8080",
            "--box-name", name, "--mdns-ttl", "4", "--interface-check", "1", *extra,
        ]  # fmt: skip
        with box.log.open("w") as log:
            box.process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, text=True, env=cli_env(), cwd=ROOT
            )
        assert box.process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = box.process.stdout.readline()
            if "ready on" in line:
                return
            if not line and box.process.poll() is not None:
                break
        raise AssertionError(f"{name} did not start: {box.log.read_text()}")

    def close(self) -> None:
        for box in self.boxes:
            if box.process and box.process.poll() is None:
                box.process.kill()
                box.process.wait(timeout=10)
            if box.process and box.process.stdout:
                box.process.stdout.close()
        for process in self.extra:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for ns in [b.ns for b in self.boxes] + [self.switch]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


def wait_for(condition: Callable[[], Any], within: float, what: str) -> float:
    """Poll a real-world condition; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        try:
            if condition():
                return time.monotonic() - start
        except (admin.AdminUnavailable, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


@pytest.fixture
def lab(tmp_path: Path) -> Any:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    made = Lab(tmp_path)
    try:
        yield made
    finally:
        made.close()
