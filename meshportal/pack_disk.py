"""Received content packs on disk: ``DATA/packs/NAME`` folders, their index, and the
moves that put one in place or take it away, each safe against a power cut.

``DATA/packs`` holds only whole packs: a new version is unpacked into
``DATA/packs-staging`` (same disk, so renames are atomic) and swapped in; a withdrawn
pack is renamed out into the staging folder first, then deleted there.  ``repair``
runs at every start and finishes or undoes what a power cut interrupted.  The index
(``installed.json``, beside the folders) says which version of which publisher each
folder is; a folder's entry counts only while the folder is there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from meshportal.durable_files import fsync_dir, write_atomically
from meshportal.pack_catalog import is_newer
from meshportal.packs import Pack, PackError, load_packs

__all__ = [
    "INDEX",
    "pick_served",
    "read_index",
    "received_folders",
    "repair",
    "served_packs",
    "swap",
    "withdraw",
    "work_folder",
    "write_index",
    "write_record",
]

INDEX = "installed.json"  # beside the pack folders; load_packs only reads folders
RECORD = ".installed.json"  # inside each received pack folder (see read_index)
# Names in the staging folder.  A pack's name is [a-z0-9-] only, so a '.' keeps these
# apart from any pack: with "replaced-" as the mark, a pack named "replaced-x" cut while
# unpacking (its work folder "replaced-x-<hash>") was put back by `repair` as a pack
# "x-<hash>", half-written and never validated, and served.
_REPLACED = "replaced."  # an old version moved aside by a swap: put back if alone
_WITHDRAWN = "withdrawn."  # a pack on its way out: deleted
_WORK = "unpack."  # an archive being unpacked and checked: deleted


def work_folder(staging: Path, name: str, digest: str) -> Path:
    """Where the archive `digest` of pack `name` is unpacked and checked."""
    return staging / f"{_WORK}{name}-{digest[:16]}"


def pick_served(shipped: list[Pack], received: list[Pack]) -> list[Pack]:
    """One pack per name, the higher version winning (a tie goes to the shipped one)."""
    by_name = {pack.name: pack for pack in shipped}
    for pack in received:
        current = by_name.get(pack.name)
        if current is None or is_newer(pack.version, current.version):
            by_name[pack.name] = pack
    return sorted(by_name.values(), key=lambda p: p.name)


def served_packs(content_dir: Path, shared_dir: Path) -> tuple[list[Pack], list[PackError]]:
    """The shipped packs and the installed ones; the higher version wins a name."""
    shipped, problems = load_packs(content_dir)
    shared, more = load_packs(shared_dir)
    return pick_served(shipped, shared), problems + more


def received_folders(shared: Path) -> list[str]:
    """The names of the folders in ``shared``: every pack installed from another box."""
    if not shared.is_dir():
        return []
    return sorted(p.name for p in shared.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_index(shared: Path) -> dict[str, dict[str, Any]]:
    """name -> {version, hash, publisher, at} of the folders installed now.

    A folder's own record (`RECORD`, written into it before it is swapped in) wins over
    the index: the index is written after the swap, so a power cut between the two left
    the new version under the old one's entry, and a later distrust of the new
    publisher did not withdraw it."""
    try:
        index = json.loads((shared / INDEX).read_text())
    except (OSError, ValueError):
        index = {}
    if not isinstance(index, dict):
        index = {}
    out = {k: v for k, v in index.items() if isinstance(v, dict) and (shared / k).is_dir()}
    for name in received_folders(shared):
        try:
            record = json.loads((shared / name / RECORD).read_text())
        except (OSError, ValueError):
            continue  # installed by an older meshportal: the index says
        if isinstance(record, dict):
            out[name] = record
    return out


def write_record(folder: Path, meta: dict[str, Any]) -> None:
    """Record in a pack folder, before it is swapped in, which version of whose it is:
    hidden, so never archived or served."""
    write_atomically(folder / RECORD, json.dumps(meta, sort_keys=True).encode())


def write_index(shared: Path, index: dict[str, dict[str, Any]]) -> None:
    write_atomically(shared / INDEX, json.dumps(index, indent=1, sort_keys=True).encode())


def swap(new: Path, target: Path, staging: Path) -> None:
    """Put ``new`` at ``target``: the old folder moves aside first, and back at the next
    start if we die in between (see repair); then it is deleted."""
    aside = staging / f"{_REPLACED}{target.name}"
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        os.replace(target, aside)
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


def withdraw(shared: Path, staging: Path, name: str) -> bool:
    """Take pack ``name`` out of ``shared`` for good; False if it was not there.

    One rename takes the folder out of what is served; after a power cut the folder is
    either still in ``shared`` (the caller's next pass withdraws it again) or in the
    staging folder, which ``repair`` empties.  The index entry goes after the rename:
    an entry without its folder counts for nothing (see read_index)."""
    folder = shared / name
    if not folder.is_dir():
        return False
    staging.mkdir(parents=True, exist_ok=True)
    aside = staging / f"{_WITHDRAWN}{name}"
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(folder, aside)
    fsync_dir(shared)
    fsync_dir(staging)
    write_index(shared, read_index(shared))  # read without the entry: its folder is gone
    shutil.rmtree(aside, ignore_errors=True)
    return True


def repair(shared: Path, staging: Path) -> None:
    """At start: undo a swap cut half-way, delete work folders and withdrawn packs, and
    drop index entries left without their folder (a withdrawal cut before its index)."""
    if staging.is_dir():
        for item in staging.iterdir():
            name = item.name.removeprefix(_REPLACED)
            if item.name.startswith(_REPLACED) and not (shared / name).exists():
                os.replace(item, shared / name)  # the swap stopped half-way: keep the old one
            else:  # work, withdrawn, or older marks: deleted, re-installed if allowed
                shutil.rmtree(item, ignore_errors=True)
    try:
        stored = json.loads((shared / INDEX).read_text())
    except (OSError, ValueError):
        return
    kept = read_index(shared)
    if isinstance(stored, dict) and stored.keys() != kept.keys():
        write_index(shared, kept)  # written only when stale: no SD write at each start
