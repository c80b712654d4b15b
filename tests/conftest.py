"""Fixtures shared by the whole suite: free ports, the CLI as a subprocess, a live daemon."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: ours, minus any MESHPORTAL_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPORTAL_")}
    env.pop("NOTIFY_SOCKET", None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshportal", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        cwd=ROOT,
        check=False,
    )


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_daemon(data: Path, port: int | None = None, *extra: str, **env: str) -> Daemon:
    """Start `meshportal serve` and wait until it says it is ready."""
    port = port or free_port()
    data.parent.mkdir(parents=True, exist_ok=True)
    # stderr to a file: a pipe nobody reads would block the daemon once full.
    log = (data.parent / f"daemon-{port}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshportal",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=cli_env(**env),
        cwd=ROOT,
    )
    log.close()
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready on" in line:
            return Daemon(process, data, port)
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait(timeout=10)
    err = (data.parent / f"daemon-{port}.log").read_text()
    raise AssertionError(f"daemon did not become ready: {err}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def daemon(data_dir: Path) -> Iterator[Daemon]:
    running = start_daemon(data_dir)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=10)
        if running.process.stdout:
            running.process.stdout.close()
