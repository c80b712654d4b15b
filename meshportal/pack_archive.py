"""A content pack as one deterministic archive, and its safe unpacking.

The archive is msgpack: ``[1, [[relative path, bytes], ...]]``, paths in POSIX form,
sorted.  It holds nothing but regular files' bytes: no modes, owners, times, links or
devices, so the same folder always gives the same bytes (and so the same SHA-256 on
every box), and unpacking has no metadata to get wrong.  Packing refuses a folder that
holds a symbolic link or anything other than files and folders; hidden files
(``.name``) are left out.

Unpacking trusts nothing: each path must be relative, made of plain names (no ``..``,
no empty part, no backslash or NUL), and the whole must stay under size and count
limits checked before anything is written.  Files are written into a fresh folder
that the caller renames into place.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import msgpack

__all__ = ["ArchiveError", "ArchiveLimits", "pack_folder", "read_archive", "write_files"]

FORMAT = 1


class ArchiveError(ValueError):
    """An archive (or a folder to archive) we refuse, with the reason in plain words."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int = 64_000_000  # archive size, and the sum of its files
    max_files: int = 2000
    max_depth: int = 8


def pack_folder(folder: Path, limits: ArchiveLimits | None = None) -> bytes:
    """The archive of every regular file under ``folder`` (hidden names left out)."""
    limits = limits or ArchiveLimits()
    entries: list[list[str | bytes]] = []
    total = 0
    for path in sorted(_walk(folder, folder)):
        data = (folder / path).read_bytes()
        total += len(data)
        if total > limits.max_bytes or len(entries) >= limits.max_files:
            raise ArchiveError(f"pack is larger than {limits.max_bytes} bytes or files")
        entries.append([path, data])
    return bytes(msgpack.packb([FORMAT, entries], use_bin_type=True))


def _walk(root: Path, folder: Path) -> list[str]:
    out: list[str] = []
    with os.scandir(folder) as scan:
        entries = list(scan)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        mode = entry.stat(follow_symlinks=False).st_mode
        relative = Path(entry.path).relative_to(root).as_posix()
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{relative} is a symbolic link: packs hold only files")
        if stat.S_ISDIR(mode):
            out.extend(_walk(root, Path(entry.path)))
        elif stat.S_ISREG(mode):
            out.append(relative)
        else:
            raise ArchiveError(f"{relative} is not a regular file")
    return out


def _check_path(raw: object, limits: ArchiveLimits) -> str:
    if not isinstance(raw, str) or not raw or "\\" in raw or "\x00" in raw:
        raise ArchiveError(f"bad path in archive: {str(raw)[:80]!r}")
    parts = raw.split("/")
    if raw.startswith("/") or PurePosixPath(raw).is_absolute():
        raise ArchiveError(f"absolute path in archive: {raw[:80]!r}")
    if any(part in ("", ".", "..") for part in parts):
        raise ArchiveError(f"path leaving its folder in archive: {raw[:80]!r}")
    if len(parts) > limits.max_depth:
        raise ArchiveError(f"path nested too deep in archive: {raw[:80]!r}")
    return raw


def read_archive(data: bytes, limits: ArchiveLimits | None = None) -> dict[str, bytes]:
    """path -> bytes of a checked archive; ArchiveError names the first problem."""
    limits = limits or ArchiveLimits()
    if len(data) > limits.max_bytes:
        raise ArchiveError(f"archive of {len(data)} bytes is over the {limits.max_bytes} limit")
    try:
        fmt, entries = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ArchiveError(f"not a pack archive: {exc}") from None
    if fmt != FORMAT or not isinstance(entries, list):
        raise ArchiveError(f"unknown archive format {str(fmt)[:20]}")
    if len(entries) > limits.max_files:
        raise ArchiveError(f"archive has {len(entries)} files, over the {limits.max_files} limit")
    files: dict[str, bytes] = {}
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], bytes):
            raise ArchiveError("an archive entry is [path, bytes]")
        path = _check_path(entry[0], limits)
        if path in files:
            raise ArchiveError(f"path twice in archive: {path[:80]!r}")
        files[path] = entry[1]
    # a path that is both a file and a folder ("a" and "a/b") cannot be written
    folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    clash = folders & files.keys()
    if clash:
        raise ArchiveError(f"path is both a file and a folder: {sorted(clash)[0][:80]!r}")
    return files


def write_files(files: dict[str, bytes], target: Path) -> None:
    """Write checked files under ``target``, a folder that must not exist yet.

    Opening with O_EXCL and O_NOFOLLOW means nothing already on disk is followed or
    overwritten, whatever the paths."""
    target.mkdir(parents=False)
    for path, data in sorted(files.items()):
        destination = target.joinpath(*path.split("/"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(destination, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
