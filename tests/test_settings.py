from __future__ import annotations

from pathlib import Path

import pytest

from meshportal.settings import (
    SETTINGS,
    SettingsError,
    load_settings,
    read_config_file,
    settings_reference,
)
from tests.conftest import run_cli


def test_defaults_are_typed() -> None:
    settings = load_settings({}, {}, {})
    assert settings["port"] == 8080
    assert settings["host"] == "127.0.0.1"
    assert settings["log_level"] == "INFO"
    assert all(settings.sources[s.name] == "default" for s in SETTINGS)


def test_precedence_file_then_env_then_flags() -> None:
    file_values = {"port": 8001, "box_name": "from-file", "host": "::1"}
    env = {"MESHPORTAL_PORT": "8002", "MESHPORTAL_BOX_NAME": "from-env"}
    settings = load_settings(file_values, env, {"port": "8003"})
    assert settings["port"] == 8003 and settings.sources["port"] == "flag"
    assert settings["box_name"] == "from-env" and settings.sources["box_name"] == "env"
    assert settings["host"] == "::1" and settings.sources["host"] == "file"


def test_systemd_state_directory_is_the_default_data_folder() -> None:
    settings = load_settings({}, {"STATE_DIRECTORY": "/var/lib/meshportal:/other"}, {})
    assert settings["data"] == "/var/lib/meshportal"


@pytest.mark.parametrize(
    ("file_values", "env", "key"),
    [
        ({"prot": 80}, {}, "prot"),
        ({"port": "eighty"}, {}, "port"),
        ({"port": 70000}, {}, "port"),
        ({"port": True}, {}, "port"),
        ({"shutdown_timeout": -1}, {}, "shutdown_timeout"),
        ({"log_level": "loud"}, {}, "log_level"),
        ({}, {"MESHPORTAL_PORT": "x"}, "port"),
        ({}, {"MESHPORTAL_HOTS": "::"}, "hots"),
    ],
)
def test_bad_values_name_the_key(
    file_values: dict[str, object], env: dict[str, str], key: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(file_values, env, {})
    assert caught.value.key == key
    assert f"'{key}'" in str(caught.value)


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 3\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        read_config_file(bad)


def test_reference_lists_every_setting() -> None:
    reference = settings_reference()
    for setting in SETTINGS:
        assert f"`{setting.name}`" in reference and setting.env_var in reference


@pytest.mark.parametrize(
    ("content", "key"), [("prot = 3\n", "prot"), ("port = 'x'\n", "port"), ("[x\n", "config")]
)
def test_cli_reports_bad_config_in_one_line_with_code_2(
    tmp_path: Path, content: str, key: str
) -> None:
    config = tmp_path / "meshportal.toml"
    config.write_text(content)
    result = run_cli("serve", "--data", str(tmp_path / "d"), "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"'{key}'" in result.stderr
    assert not (tmp_path / "d").exists(), "a refused configuration must not create anything"


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("init", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_system_config_is_read_only_under_systemd(tmp_path: Path) -> None:
    from meshportal.settings import SYSTEM_CONFIG, default_config_path

    assert default_config_path({}) is None
    named = tmp_path / "x.toml"
    assert default_config_path({"MESHPORTAL_CONFIG": str(named)}) == named
    under_systemd = default_config_path({"INVOCATION_ID": "abc"})
    assert under_systemd == (SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else None)
