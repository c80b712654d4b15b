"""Compiled templates kept on disk: a restart loads them, and no damage to the folder or
its files ever costs a page (real Jinja2, real templates, real files)."""

from __future__ import annotations

import io
import logging
import marshal
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from jinja2.bccache import bc_magic

from meshportal.web.render import cache_folder, environment

# the uncached factory: each call is a fresh environment, as after a restart
fresh_environment = environment.__wrapped__

HOME = {
    "packs": [{"title": "Pack", "themes": [{"label": "Étape", "lessons": []}]}],
    "box_name": "boîte",
    "enter_form": None,
    "request_path": "/",
}


def render_home(folder: Path | None, lang: str = "fr") -> str:
    return str(fresh_environment(lang, folder).get_template("home.html").render(**HOME))


def entries(folder: Path) -> dict[str, tuple[int, int]]:
    """Each cache file with its inode and mtime: a rewrite (temporary file, then rename)
    changes the inode, so an unchanged one means the entry was read, not compiled."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_a_restart_loads_the_compiled_templates_instead_of_compiling(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "templates"
    reference = render_home(None)
    assert render_home(folder) == reference
    written = entries(folder)
    assert len(written) == 2  # home.html and the base.html it extends
    assert render_home(folder) == reference
    assert render_home(folder, "en") != reference  # one compiled code serves both languages
    assert entries(folder) == written


def _cut_after_header(entry: bytes, checksum: bytes) -> bytes:
    return bc_magic


def _garbage_after_header(entry: bytes, checksum: bytes) -> bytes:
    return bc_magic + b"\x00not a pickle\xff" * 4


def _truncated(entry: bytes, checksum: bytes) -> bytes:
    return entry[: len(entry) // 2]


def _text_instead_of_code(entry: bytes, checksum: bytes) -> bytes:
    # Jinja2 would exec() a string as Python source: it must be dropped, not run
    return checksum + marshal.dumps("raise SystemExit('cache entry executed')")


def _number_instead_of_code(entry: bytes, checksum: bytes) -> bytes:
    return checksum + marshal.dumps(5)


def _empty(entry: bytes, checksum: bytes) -> bytes:
    return b""


@pytest.mark.parametrize(
    "damage",
    [
        _cut_after_header,
        _garbage_after_header,
        _truncated,
        _text_instead_of_code,
        _number_instead_of_code,
        _empty,
    ],
)
def test_a_damaged_entry_is_compiled_again_and_replaced(
    tmp_path: Path, damage: Callable[[bytes, bytes], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "templates"
    reference = render_home(folder)
    for path in folder.iterdir():
        entry = path.read_bytes()
        # the header and the source checksum as Jinja2 wrote them: up to the marshalled code
        checksum = entry[: len(bc_magic)] + _pickled_checksum(entry)
        path.write_bytes(damage(entry, checksum))
    with caplog.at_level(logging.WARNING, "meshportal.web"):
        assert render_home(folder) == reference
    repaired = entries(folder)
    assert render_home(folder) == reference
    assert entries(folder) == repaired  # the rewritten entries are good: read, not compiled


def _pickled_checksum(entry: bytes) -> bytes:
    """The pickled source checksum that follows the header, as Jinja2 wrote it."""
    body = io.BytesIO(entry[len(bc_magic) :])
    assert isinstance(pickle.load(body), str)  # noqa: S301 - a file this test wrote
    return entry[len(bc_magic) : len(bc_magic) + body.tell()]


def test_a_folder_that_cannot_be_made_costs_the_cache_not_the_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cache").write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, "meshportal.web"):
        assert render_home(tmp_path / "cache" / "templates") == render_home(None)
    assert "compiled templates not kept" in caplog.text


def test_a_folder_that_cannot_be_written_costs_the_cache_not_the_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "templates"
    env = fresh_environment("fr", folder)
    if os.geteuid() == 0:
        folder.rmdir()  # root writes anywhere: a folder gone after start fails the same way
    else:
        folder.chmod(0o500)
    with caplog.at_level(logging.WARNING, "meshportal.web"):
        assert env.get_template("home.html").render(**HOME) == render_home(None)
        assert env.get_template("message.html").render(heading="x", request_path="/")
    assert caplog.text.count("compiled templates not kept") == 1  # said once, not per page


def test_the_folder_is_systemd_s_cache_directory_else_beside_the_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cache_folder(data, {}) == data / "cache"
    systemd = {"CACHE_DIRECTORY": "/var/cache/meshportal:/var/cache/other"}
    assert cache_folder(data, systemd) == Path("/var/cache/meshportal")
