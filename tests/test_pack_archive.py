"""Pack archives: the same folder gives the same bytes; hostile archives write nothing."""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest

from meshportal.pack_archive import (
    ArchiveError,
    ArchiveLimits,
    pack_folder,
    read_archive,
    write_files,
)
from meshportal.pack_catalog import is_newer, parse_accept, version_key
from tests.test_packs import GOOD, make_pack


def raw_archive(entries: list[list[object]], fmt: int = 1) -> bytes:
    return bytes(msgpack.packb([fmt, entries], use_bin_type=True))


def test_same_pack_same_bytes_whatever_the_times_modes_and_order(tmp_path: Path) -> None:
    one = make_pack(tmp_path / "one", "cuisine", GOOD)
    two = make_pack(tmp_path / "two", "cuisine", GOOD)
    os.utime(two / "manifest.toml", (1, 1))
    os.chmod(two / "01-lecon.fr.md", 0o600)
    (two / ".DS_Store").write_bytes(b"noise")  # hidden files are left out
    assert pack_folder(one) == pack_folder(two)
    files = read_archive(pack_folder(one))
    assert sorted(files) == ["01-lecon.fr.md", "images/schema.svg", "manifest.toml"]
    (two / "01-lecon.fr.md").write_text(GOOD + "\nUne ligne de plus\n")
    assert pack_folder(one) != pack_folder(two)


def test_round_trip_writes_the_same_files(tmp_path: Path) -> None:
    pack = make_pack(tmp_path / "src", "cuisine", GOOD)
    target = tmp_path / "out"
    write_files(read_archive(pack_folder(pack)), target)
    for name in ("manifest.toml", "01-lecon.fr.md", "images/schema.svg"):
        assert (target / name).read_bytes() == (pack / name).read_bytes()


def test_a_folder_with_a_symlink_or_a_fifo_is_not_packed(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, "cuisine", GOOD)
    (pack / "secret").symlink_to("/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        pack_folder(pack)
    (pack / "secret").unlink()
    os.mkfifo(pack / "pipe")
    with pytest.raises(ArchiveError, match="not a regular file"):
        pack_folder(pack)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../evil.md", "leaving"),
        ("images/../../evil.md", "leaving"),
        ("/etc/cron.d/evil", "absolute"),
        ("a//b", "leaving"),
        ("./x", "leaving"),
        ("a\\..\\b", "bad path"),
        ("a\x00b", "bad path"),
        ("/".join(["d"] * 20), "too deep"),
    ],
)
def test_hostile_paths_are_refused(tmp_path: Path, path: str, why: str) -> None:
    with pytest.raises(ArchiveError, match=why):
        read_archive(raw_archive([["manifest.toml", b"x"], [path, b"pwned"]]))
    assert not (tmp_path / "evil.md").exists()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xc1garbage", "not a pack archive"),
        (raw_archive([], fmt=2), "unknown archive format"),
        (raw_archive([["a", "text, not bytes"]]), r"\[path, bytes\]"),
        (raw_archive([["a", b"1"], ["a", b"2"]]), "twice"),
        (raw_archive([["a", b"1"], ["a/b", b"2"]]), "both a file and a folder"),
    ],
)
def test_malformed_archives_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(ArchiveError, match=why):
        read_archive(data)


def test_oversized_archives_are_refused_before_anything_is_written() -> None:
    limits = ArchiveLimits(max_bytes=10_000, max_files=3)
    with pytest.raises(ArchiveError, match="over the 10000 limit"):
        read_archive(raw_archive([["big", b"x" * 20_000]]), limits)
    with pytest.raises(ArchiveError, match="4 files"):
        read_archive(raw_archive([[f"f{i}", b""] for i in range(4)]), limits)


def test_a_pack_too_large_to_share_is_refused(tmp_path: Path) -> None:
    pack = make_pack(tmp_path, "cuisine", GOOD)
    (pack / "images" / "big.bin").write_bytes(b"\0" * 5000)
    with pytest.raises(ArchiveError, match="larger than 4000"):
        pack_folder(pack, ArchiveLimits(max_bytes=4000))


def test_writing_never_follows_what_is_already_on_disk(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(FileExistsError):
        write_files({"a": b"1"}, target)  # the folder must be fresh


def test_versions_compare_part_by_part() -> None:
    assert is_newer("1.10", "1.9") and is_newer("2", "1.9.9") and is_newer("1.0.1", "1")
    assert not is_newer("1.0", "1") and not is_newer("1.2", "1.10")
    assert is_newer("1", None)
    assert version_key("1.0-beta") > version_key("1.0")  # text after numbers
    assert parse_accept([])("x") is False
    assert parse_accept(["*"])("anything") is True
    accept = parse_accept([" cuisine", "eau "])
    assert accept("eau") and accept("cuisine") and not accept("autre")
