"""An admin command typed in a shell on an installed box finds the box systemd runs: its
data folder and admin socket where the unit puts them.  A real daemon, started as the
unit starts it (STATE_DIRECTORY, RUNTIME_DIRECTORY), on folders standing in for
/var/lib/meshportal and /run/meshportal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshportal import cli, installed_box
from tests.conftest import run_cli, start_daemon

UNIT_VARIABLES = ("STATE_DIRECTORY", "RUNTIME_DIRECTORY", "MESHPORTAL_CONFIG", "MESHPORTAL_DATA")


@pytest.fixture
def unit_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The unit's folders in tmp_path, an admin's shell without the unit's variables (any
    set here is put back after the test), and a working folder with no ./data."""
    state, runtime = tmp_path / "var-lib-meshportal", tmp_path / "run-meshportal"
    runtime.mkdir()
    monkeypatch.setattr(installed_box, "STATE", state)
    monkeypatch.setattr(installed_box, "RUNTIME", runtime)
    monkeypatch.setattr(installed_box, "CONFIG", tmp_path / "meshportal.toml")
    for name in (*UNIT_VARIABLES, "INVOCATION_ID"):
        monkeypatch.setenv(name, "")  # remembered, so main's additions are undone
        monkeypatch.delenv(name)
    shell = tmp_path / "home"
    shell.mkdir()
    monkeypatch.chdir(shell)
    return state, runtime


def test_status_typed_in_a_shell_reaches_the_running_box(
    unit_folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    state, runtime = unit_folders
    assert run_cli("init", "--data", str(state)).returncode == 0
    box = start_daemon(state, None, RUNTIME_DIRECTORY=str(runtime))
    try:
        assert (runtime / "admin.sock").is_socket()
        assert cli.main(["status", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["running"] is True and report["pid"] == box.process.pid
        assert report["data_dir"] == str(state)
    finally:
        box.stop()
        if box.process.stdout:
            box.process.stdout.close()
    # the box stopped: the command still reads its data folder, and says it is stopped
    assert cli.main(["status", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["running"] is False and report["node_id"]


@pytest.mark.parametrize(
    ("argv", "local_data", "installed"),
    [
        (["status"], False, True),
        (["peer", "list"], False, True),
        (["status", "--data", "elsewhere"], False, False),  # told where: goes there
        (["status"], True, False),  # a ./data here: a development box
        (["init"], False, False),  # init and serve make or run a box where they stand
        (["serve"], False, False),
    ],
)
def test_only_admin_commands_given_no_folder_look_where_the_unit_puts_things(
    unit_folders: tuple[Path, Path], argv: list[str], local_data: bool, installed: bool
) -> None:
    state, runtime = unit_folders
    state.mkdir()
    if local_data:
        Path("data").mkdir()
    args = cli.build_parser().parse_args(argv)
    added = installed_box.unit_environment(args, {"PATH": "/usr/bin"})
    unit = {"STATE_DIRECTORY": str(state), "RUNTIME_DIRECTORY": str(runtime)}
    assert added == (unit if installed else {})
    # what the shell sets already stays as it is
    given = installed_box.unit_environment(args, {"RUNTIME_DIRECTORY": "/elsewhere"})
    assert "RUNTIME_DIRECTORY" not in given
    # nothing is added on a machine without the unit's data folder
    state.rmdir()
    assert installed_box.unit_environment(args, {"PATH": "/usr/bin"}) == {}
