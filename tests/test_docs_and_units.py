"""The README and the systemd units, checked against the code and the tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshportal.cli import EXIT_CODES, build_parser
from meshportal.reference import END, START, reference
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci, ".ci/run must run the README's own test command"


def test_readme_reference_matches_the_code() -> None:
    generated = reference(build_parser(), EXIT_CODES)
    section = README[README.index(START) : README.index(END) + len(END)]
    assert section == generated, "README reference is stale: run `make docs`"


def test_readme_lists_every_dependency_with_a_reason() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=;\[ ]", dep)[0] for dep in project["dependencies"]]
    names += [
        re.split(r"[<>=;\[ ]", d)[0]
        for grp in project["optional-dependencies"].values()
        for d in grp
    ]
    for name in names:
        assert re.search(rf"\b{re.escape(name)}\b", README, re.IGNORECASE), name


@pytest.fixture
def unit_for_checking(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (Debian's systemd package provides it)")
    unit = (ROOT / "systemd" / "meshportal.service").read_text()
    # verify insists that ExecStart exists: point it at this interpreter.
    unit = unit.replace("/opt/meshportal/bin/meshportal", sys.executable)
    path = tmp_path / "meshportal.service"
    path.write_text(unit)
    return path


def test_systemd_unit_verifies(unit_for_checking: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit_for_checking)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "meshportal.service" not in result.stderr, result.stderr


def test_systemd_exposure_matches_the_readme(unit_for_checking: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit_for_checking)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    score = match.group(1)
    print(f"systemd-analyze security exposure: {score}")
    assert f"**{score} OK**" in README
    assert float(score) <= 2.0


def test_unit_keeps_the_promised_settings() -> None:
    unit = (ROOT / "systemd" / "meshportal.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=meshportal",
        "RuntimeDirectory=meshportal",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "MemoryMax=",
    ):
        assert line in unit, line
