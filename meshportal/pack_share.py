"""Content packs between boxes: publish one to the catalog, install the ones this box takes.

Publishing archives a pack this box serves (pack_archive), stores the archive as a blob
and writes its catalog entry (pack_catalog) in the replica, signed by this box.

Receiving: after every commit touching the catalog, and after every sync that fetched
files, each entry this box may take (accepted, signed by its trusted publisher, newer
than what the box serves) whose archive is here is installed into ``<data>/packs/NAME``:
the blob is read back against its hash, unpacked with every path checked into a
staging folder beside it, validated with ``load_pack`` (a broken pack is refused and
reported; the version served so far stays), then swapped in by renames and the
content reloaded.  A crash mid-swap is repaired at the next start (see pack_disk).

Withdrawing: a received pack is served because a box this box trusts signed it.  At
every pass (at start, after each catalog change, at once when the admin distrusts a
box) an installed pack whose publisher is no longer trusted, that the admin removed, or
that ``packs_accept`` no longer names, is taken out of ``DATA/packs`` and so out of the
lessons; its archive is no
longer offered to peers (``withheld_blobs``).  The archive of a distrusted publisher's
pack is kept, so trusting it again brings the pack back at the next pass; the archive
of a removed pack is deleted (see pack_withdrawals for why each).

Shipped packs (``content_dir``) and installed ones are served together; when both have
a pack of the same name, the higher version is served (a tie goes to the shipped one).

No aiohttp here: the app gives the callbacks (trust, served versions, reload).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshportal.blobs import BlobError, BlobStore
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
from meshportal.pack_disk import (
    read_index,
    received_folders,
    repair,
    swap,
    withdraw,
    work_folder,
    write_index,
    write_record,
)
from meshportal.pack_listing import must_go
from meshportal.pack_withdrawals import (
    REMOVED,
    UNTRUSTED,
    Withdrawal,
    WithdrawalTable,
    removal,
)
from meshportal.packs import Pack, PackError, load_pack
from meshportal.replica_host import ReplicaHost

if TYPE_CHECKING:  # the sync engine loads with the replica, not at start
    from meshportal.mesh.service import Mesh
    from sync.change import Change
    from sync.replica import Replica

__all__ = ["PackShare", "ShareError"]

log = logging.getLogger("meshportal.packs")


class ShareError(Exception):
    """A pack that cannot be published or installed, said plainly."""


class PackShare:
    def __init__(
        self,
        *,
        host: ReplicaHost,
        blobs: BlobStore,
        data_dir: Path,
        node_id: str,
        withdrawals: WithdrawalTable,
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
        self.withdrawals = withdrawals
        # start a conversation with a box now (the mesh's, set by attach): where an
        # archive this box wants again can be fetched without waiting for the next sync
        self.fetch_from: Callable[[str], None] | None = None
        self._withdrawn: dict[str, Withdrawal] = {}  # the table's rows, read at start
        self._archives_kept: set[str] = set()  # removed packs' archives that others use
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

    def attach(self, mesh: Mesh) -> None:
        """Wire this share into the mesh before either starts: the archives a
        conversation fetches and never offers, what follows a fetch or a change of
        trust, and the mesh's way to start a conversation now (`fetch_from`)."""
        mesh.extra_wanted, mesh.on_fetched = self.wanted_blobs, self.soon
        mesh.withheld, mesh.on_trust_changed = self.withheld_blobs, self.trust_changed
        self.fetch_from = mesh.sync_now

    async def start(self) -> None:
        """Repair an interrupted swap, withdraw what must go, then follow the catalog.

        The daemon starts this before its web port opens: a pack distrusted or removed
        while it was stopped is never served, not even for a moment."""
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(repair, self.shared_dir, self.staging)
        self._withdrawn = await self.withdrawals.all()
        async with self._lock:
            gone = await self._enforce()
        if gone:
            await self.reload()
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
            if self._refused(name):
                untaken[name] = "removed by the admin (meshportal pack accept NAME)"
                continue
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
        """Withdraw what must go, then install every takeable pack whose archive is here;
        the names installed."""
        async with self._lock:
            gone = await self._enforce()
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
                if entry.name in self._withdrawn:  # back after its publisher is trusted again
                    await self.withdrawals.forget(entry.name, UNTRUSTED)
                    del self._withdrawn[entry.name]
            if done or gone:
                await self.reload()
            return done

    def _install(self, entry: CatalogEntry) -> None:
        data = self.blobs.read(entry.digest)  # checked against its hash
        files = read_archive(data, self.limits)
        self.staging.mkdir(parents=True, exist_ok=True)
        work = work_folder(self.staging, entry.name, entry.digest)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            folder = work / entry.name
            write_files(files, folder)
            pack = load_pack(folder)  # PackError: broken, the served version stays
            if pack.version != entry.version:
                raise ShareError(f"manifest says version {pack.version}, catalog {entry.version}")
            meta = {"version": entry.version, "hash": entry.digest,
                    "publisher": entry.publisher, "at": time.time()}  # fmt: skip
            write_record(folder, meta)  # comes in with the folder, whatever cuts next
            swap(folder, self.shared_dir / entry.name, self.staging)
            write_index(self.shared_dir, {**self.installed(), entry.name: meta})
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def installed(self) -> dict[str, dict[str, Any]]:
        return read_index(self.shared_dir)

    # --- withdrawing ----------------------------------------------------------------------

    def _refused(self, name: str) -> bool:
        item = self._withdrawn.get(name)
        return item is not None and item.reason == REMOVED

    def withdrawn(self) -> dict[str, Withdrawal]:
        return dict(self._withdrawn)

    async def _record(self, item: Withdrawal) -> None:
        """The decision first, durably: the folder follows it (now, or at the next pass)."""
        await self.withdrawals.record(item)
        if not self._refused(item.name):
            self._withdrawn[item.name] = item

    async def _enforce(self) -> list[str]:
        """Withdraw installed packs the admin removed, whose publisher is no longer
        trusted, or that ``packs_accept`` no longer names; the names withdrawn.  Holds
        ``_lock``.  Needs no replica unless a removed pack's archive is to be deleted."""
        gone = []
        index = self.installed()
        for name in received_folders(self.shared_dir):
            # a folder the index does not name (cut between swap and index) has no
            # known publisher: withdrawn; the next pass installs it again if it may
            meta = index.get(name, {})
            publisher = str(meta.get("publisher", ""))
            why = must_go(name, publisher, self._withdrawn, self.trusted, self.accepts)
            if not why:
                continue
            if why == UNTRUSTED:
                version, digest = str(meta.get("version", "")), str(meta.get("hash", ""))
                await self._record(Withdrawal(name, UNTRUSTED, version, digest, publisher))
            # NOT_ACCEPTED records nothing: the setting is the decision, and the archive
            # stays, so naming the pack again re-installs it
            if await asyncio.to_thread(withdraw, self.shared_dir, self.staging, name):
                log.warning("withdrew shared pack %s: %s", name, why)
                gone.append(name)
        for item in list(self._withdrawn.values()):
            if item.reason == REMOVED and item.digest not in self._archives_kept:
                await self._drop_archive(item)
        return gone

    async def _drop_archive(self, item: Withdrawal) -> None:
        """Free the SD card of a removed pack's archive, unless a wiki page attaches the
        same bytes or another pack of the catalog is the same archive (then it is kept,
        and not looked at again by this run's passes: that scans every page's files)."""
        from meshportal.mesh.link import referenced_blobs  # loads with the replica

        if not item.digest or not self.blobs.has(item.digest):
            return
        replica = await self.host.replica()
        others = {e.digest for e in catalog(replica).values() if e.name != item.name}
        if item.digest in others or item.digest in referenced_blobs(replica):
            self._archives_kept.add(item.digest)
            return
        await asyncio.to_thread(self.blobs.delete, item.digest)

    def withheld_blobs(self) -> set[str]:
        """Archives not to offer to peers: those of packs this box withdrew."""
        serving = {str(meta.get("hash")) for meta in self.installed().values()}
        return {w.digest for w in self._withdrawn.values() if w.digest} - serving

    async def trust_changed(self, node_id: str, trusted: bool) -> list[str]:
        """A box was trusted or distrusted: the packs withdrawn now (none on trust: the
        pass that follows re-installs what the box signed)."""
        gone: list[str] = []
        if not trusted:
            async with self._lock:
                gone = await self._enforce()
            if gone:
                await self.reload()
        if self.accept_list:
            self.soon()
        return gone

    async def remove(self, name: str) -> Withdrawal:
        """The admin removes a received pack: refused from now on, folder and archive gone."""
        async with self._lock:
            meta = self.installed().get(name)
            known = self._withdrawn.get(name)
            if meta is None and known is None:
                raise ShareError(f"no pack named {name!r} was received from another box")
            item = removal(name, meta, known)
            await self.withdrawals.record(item)
            self._withdrawn[name] = item
            gone = await self._enforce()
        if gone:
            await self.reload()
        return item

    async def accept(self, name: str) -> bool:
        """Lift the admin's removal of ``name``; False if it was not removed."""
        async with self._lock:  # a remove of the same name meanwhile would be lost
            if not self._refused(name):
                return False
            await self.withdrawals.forget(name, REMOVED)
            del self._withdrawn[name]
        self.soon()  # installed now if the archive is here
        entry = catalog(await self.host.replica()).get(name)
        if (
            entry is not None
            and self.fetch_from is not None
            and not self.blobs.has(entry.digest)
            and self.trusted(entry.publisher)
        ):
            # its removal deleted the archive: ask the publisher now, not at the next sync
            self.fetch_from(entry.publisher)
        return True

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
            "withdrawn": [w.as_dict() for _, w in sorted(self._withdrawn.items())],
            "refused": [{"name": k, "why": v} for k, v in sorted(self.refused().items())],
        }
