"""Content packs between boxes: publish one to the catalog, install the ones this box takes.

Publishing archives a pack this box serves (pack_archive), stores the archive as a blob
and writes its catalog entry (pack_catalog) in the replica, signed by this box.

Receiving: after every commit touching the catalog, and after every sync that fetched
files, each entry this box may take (accepted, signed by its trusted publisher, newer
than what the box serves) whose archive is here is installed into ``<data>/packs/NAME``:
the blob is read back against its hash, unpacked with every path checked into a
staging folder beside it, validated with ``load_pack`` (a broken pack is refused and
reported; the version served so far stays), then swapped in by renames and the
content reloaded.  A crash mid-swap is repaired at the next start.

Shipped packs (``content_dir``) and installed ones are served together; when both have
a pack of the same name, the higher version is served (a tie goes to the shipped one).

No aiohttp here: the app gives the callbacks (trust, served versions, reload).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshportal.blobs import BlobError, BlobStore
from meshportal.durable_files import fsync_dir
from meshportal.pack_archive import (
    ArchiveError,
    ArchiveLimits,
    pack_folder,
    read_archive,
    write_files,
)
from meshportal.pack_catalog import (
    CATALOG,
    CatalogEntry,
    catalog,
    is_newer,
    parse_accept,
    signer,
    verdict,
    version_key,
)
from meshportal.packs import Pack, PackError, load_pack, load_packs
from meshportal.replica_host import ReplicaHost

if TYPE_CHECKING:  # the sync engine loads with the replica, not at start
    from sync.change import Change
    from sync.replica import Replica

__all__ = ["PackShare", "ShareError", "served_packs"]

log = logging.getLogger("meshportal.packs")
INDEX = "installed.json"  # beside the pack folders; load_packs only reads folders


class ShareError(Exception):
    """A pack that cannot be published or installed, said plainly."""


def served_packs(content_dir: Path, shared_dir: Path) -> tuple[list[Pack], list[PackError]]:
    """The shipped packs and the installed ones; the higher version wins a name."""
    shipped, problems = load_packs(content_dir)
    shared, more = load_packs(shared_dir)
    by_name = {pack.name: pack for pack in shipped}
    for pack in shared:
        current = by_name.get(pack.name)
        if current is None or is_newer(pack.version, current.version):
            by_name[pack.name] = pack
    return sorted(by_name.values(), key=lambda p: p.name), problems + more


class PackShare:
    def __init__(
        self,
        *,
        host: ReplicaHost,
        blobs: BlobStore,
        data_dir: Path,
        node_id: str,
        accept: list[str],
        trusted: Callable[[str], bool],
        served_version: Callable[[str], str | None],
        reload: Callable[[], Awaitable[Any]],
        limits: ArchiveLimits | None = None,
    ) -> None:
        self.host = host
        self.blobs = blobs
        self.shared_dir = data_dir / "packs"
        self.staging = data_dir / "packs-staging"  # same disk: renames are atomic
        self.node_id = node_id
        self.accept_list = accept
        self.accepts = parse_accept(accept)
        self.trusted = trusted
        self.served_version = served_version
        self.reload = reload
        self.limits = limits or ArchiveLimits()
        self._untaken: dict[str, str] = {}  # pack name -> why not taken (trust, signature)
        self._failed: dict[str, tuple[str, str]] = {}  # archive hash -> (pack name, why)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Repair an interrupted swap, then follow the catalog."""
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        _repair(self.shared_dir, self.staging)
        self.host.on_commit(self._on_commit)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_commit(self, replica: Replica, changes: list[Change]) -> None:
        if any(op[0] == CATALOG for change in changes for op in change.ops):
            self.soon()

    def soon(self) -> None:
        """Check the catalog in the background (a sync must not wait for unpacking)."""
        task = asyncio.ensure_future(self.check())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- what to take --------------------------------------------------------------------

    def _takeable(self, replica: Replica) -> list[CatalogEntry]:
        """Entries this box should install now (fetched or not), recording refusals."""
        out, untaken = [], {}
        for name, entry in sorted(catalog(replica).items()):
            if entry.publisher == self.node_id or not self.accepts(name):
                continue  # our own pack is served from where we published it
            why = verdict(entry, signer(replica, name), accepted=True, trusted=self.trusted)
            if why is not None:
                untaken[name] = why
            elif entry.digest not in self._failed and is_newer(
                entry.version, self.served_version(name)
            ):
                out.append(entry)
        self._untaken = untaken
        return out

    def wanted_blobs(self, replica: Replica) -> dict[str, int]:
        """Archives to fetch from peers: only packs this box would install."""
        limit = self.limits.max_bytes
        return {e.digest: e.size for e in self._takeable(replica) if e.size <= limit}

    async def check(self) -> list[str]:
        """Install every takeable pack whose archive is here; the names installed."""
        async with self._lock:
            replica = await self.host.replica()
            done = []
            for entry in self._takeable(replica):
                if not self.blobs.has(entry.digest):
                    continue  # the next sync fetches it
                try:
                    await asyncio.to_thread(self._install, entry)
                except (ShareError, ArchiveError, BlobError, PackError, OSError) as exc:
                    # not retried: the same hash always holds the same bytes
                    self._failed[entry.digest] = (entry.name, f"{entry.version}: {exc}")
                    log.warning("shared pack %s %s refused: %s", entry.name, entry.version, exc)
                    continue
                log.info("installed shared pack %s %s", entry.name, entry.version)
                done.append(entry.name)
            if done:
                await self.reload()
            return done

    def _install(self, entry: CatalogEntry) -> None:
        data = self.blobs.read(entry.digest)  # checked against its hash
        files = read_archive(data, self.limits)
        self.staging.mkdir(parents=True, exist_ok=True)
        work = self.staging / f"{entry.name}-{entry.digest[:16]}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            folder = work / entry.name
            write_files(files, folder)
            pack = load_pack(folder)  # PackError: broken, the served version stays
            if pack.version != entry.version:
                raise ShareError(f"manifest says version {pack.version}, catalog {entry.version}")
            _swap(folder, self.shared_dir / entry.name, self.staging)
            index = self.installed()
            index[entry.name] = {"version": entry.version, "hash": entry.digest,
                                 "publisher": entry.publisher, "at": time.time()}  # fmt: skip
            _write_json(self.shared_dir / INDEX, index)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def installed(self) -> dict[str, dict[str, Any]]:
        try:
            index = json.loads((self.shared_dir / INDEX).read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in index.items() if (self.shared_dir / k).is_dir()}

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, pack: Pack) -> CatalogEntry:
        """Archive a pack this box serves and name it in the catalog, signed by this box."""
        fresh = await asyncio.to_thread(load_pack, pack.path)  # as it is on disk now
        if not fresh.version:
            raise ShareError(f"{pack.name}: manifest.toml needs a version to be shared")
        data = await asyncio.to_thread(pack_folder, pack.path, self.limits)
        digest = await asyncio.to_thread(self.blobs.put, data)
        entry = CatalogEntry(pack.name, fresh.version, digest, len(data), self.node_id)
        async with self.host.editing() as replica:
            current = catalog(replica).get(pack.name)
            if current is not None and current.digest == digest:
                return current
            if current is not None and version_key(current.version) >= version_key(entry.version):
                raise ShareError(
                    f"{pack.name} {current.version} is already shared: raise the version in"
                    " manifest.toml to share a change"
                )
            replica.set_key(CATALOG, pack.name, entry.as_value())
        return entry

    def refused(self) -> dict[str, str]:
        """pack name -> why this box does not serve what the catalog offers."""
        out = {name: why for name, why in self._failed.values()}
        out.update(self._untaken)
        return out

    async def status_section(self) -> dict[str, Any]:
        installed = [
            {"name": name, "version": item.get("version"), "publisher": item.get("publisher")}
            for name, item in sorted(self.installed().items())
        ]
        return {
            "accept": ", ".join(self.accept_list) or "-",
            "installed": installed,
            "refused": [{"name": k, "why": v} for k, v in sorted(self.refused().items())],
        }


def _swap(new: Path, target: Path, staging: Path) -> None:
    """Put ``new`` at ``target``: the old folder moves aside first, and back at the next
    start if we die in between (see _repair); then it is deleted."""
    aside = staging / f"replaced-{target.name}"
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        os.replace(target, aside)
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _repair(shared: Path, staging: Path) -> None:
    if not staging.is_dir():
        return
    for item in staging.iterdir():
        name = item.name.removeprefix("replaced-")
        if item.name.startswith("replaced-") and not (shared / name).exists():
            os.replace(item, shared / name)  # the swap stopped half-way: keep the old one
        else:
            shutil.rmtree(item, ignore_errors=True)


def _write_json(path: Path, value: Any) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(temporary, path)
