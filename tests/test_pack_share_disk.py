"""Installed packs on disk: which version is served, and a swap cut half-way."""

from __future__ import annotations

import json
from pathlib import Path

from meshportal.pack_disk import (
    INDEX,
    RECORD,
    read_index,
    repair,
    served_packs,
    work_folder,
    write_record,
)
from tests.test_packs import GOOD, make_pack


def _version(pack: Path, version: str) -> None:
    manifest = pack / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('version = "1"', f'version = "{version}"'))


def test_the_higher_version_of_a_name_is_served_and_a_tie_goes_to_the_shipped(
    tmp_path: Path,
) -> None:
    shipped, shared = tmp_path / "content", tmp_path / "packs"
    _version(make_pack(shipped, "cuisine", GOOD), "1.9")
    _version(make_pack(shared, "cuisine", GOOD), "1.10")
    make_pack(shipped, "eau", GOOD)
    make_pack(shared, "eau", GOOD)
    make_pack(shared, "jardin", GOOD)
    packs, problems = served_packs(shipped, shared)
    assert problems == []
    where = {p.name: p.path.parent for p in packs}
    assert where == {"cuisine": shared, "eau": shipped, "jardin": shared}


def test_a_swap_cut_after_moving_the_old_folder_aside_is_undone(tmp_path: Path) -> None:
    shared, staging = tmp_path / "packs", tmp_path / "packs-staging"
    shared.mkdir()
    old = make_pack(staging, "replaced.cuisine", GOOD)  # moved aside, new one not in yet
    make_pack(staging, work_folder(staging, "cuisine", "0123456789abcdef" * 4).name, GOOD)
    repair(shared, staging)
    assert (shared / "cuisine" / "manifest.toml").is_file() and not old.exists()
    assert list(staging.iterdir()) == []
    packs, _ = served_packs(tmp_path / "none", shared)
    assert [p.name for p in packs] == ["cuisine"]


def test_a_pack_named_like_a_mark_cut_while_unpacking_is_never_served(tmp_path: Path) -> None:
    # "replaced-" was the mark of a folder moved aside: a pack of that name cut while
    # unpacking came back at start as a pack "x-<hash>", half-written and never checked
    shared, staging = tmp_path / "packs", tmp_path / "packs-staging"
    shared.mkdir()
    work = work_folder(staging, "replaced-x", "89abcdef01234567" * 4)
    make_pack(staging, work.name, GOOD)  # its manifest was written, the rest maybe not
    make_pack(staging, "replaced-y-0123456789abcdef", GOOD)  # the same, by older code
    repair(shared, staging)
    assert list(shared.iterdir()) == [] and list(staging.iterdir()) == []


def test_a_folders_own_record_wins_over_an_index_a_power_cut_left_behind(
    tmp_path: Path,
) -> None:
    # the swap brought version 2 of another publisher in, and the box died before the
    # index said so: the record written into the folder before the swap tells the truth
    shared = tmp_path / "packs"
    folder = make_pack(shared, "cuisine", GOOD)
    old = {"version": "1", "hash": "a" * 64, "publisher": "OLD", "at": 1.0}
    new = {"version": "2", "hash": "b" * 64, "publisher": "NEW", "at": 2.0}
    (shared / INDEX).write_text(json.dumps({"cuisine": old, "gone": old}))
    write_record(folder, new)
    assert read_index(shared) == {"cuisine": new}
    (folder / RECORD).unlink()  # installed by an older meshportal: the index says
    assert read_index(shared) == {"cuisine": old}
    (folder / RECORD).write_text("{not json")
    assert read_index(shared) == {"cuisine": old}
