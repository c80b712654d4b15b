"""mDNS: announcing this box and finding the others, through one AsyncZeroconf.

This is the adapter around python-zeroconf; the decisions (what the TXT
records say, whether a record set is ours) are in ``advert``.  zeroconf is
imported here only, and this module only by the mesh lifecycle, so a box
with discovery off does not pay its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from meshportal.mesh import interfaces
from meshportal.mesh.advert import SERVICE_TYPE, Advert, AdvertError, decode_txt, encode_txt

log = logging.getLogger("meshportal.mesh")

SeenHandler = Callable[[Advert, list[str]], Awaitable[None]]
GoneHandler = Callable[[str], Awaitable[None]]
RESOLVE_MS = 3000
MIN_CHECK = 1.0  # an idle daemon does no periodic work more often than this


@dataclass
class Discovery:
    host: str
    instance: str  # the name we would like; zeroconf may add -2 on a clash
    advert: Callable[[], Advert]  # called again at each check: digest and pairing flag
    on_seen: SeenHandler
    on_gone: GoneHandler
    ttl: float = 120.0
    check_every: float = 5.0
    on_renamed: Callable[[str], Awaitable[None]] | None = None
    restarts: int = 0
    _aiozc: AsyncZeroconf | None = None
    _browser: AsyncServiceBrowser | None = None
    _info: AsyncServiceInfo | None = None
    _published: dict[str, str] = field(default_factory=dict)
    _addresses: frozenset[str] = frozenset()
    _names: dict[str, str] = field(default_factory=dict)  # instance name -> node id
    _lost: set[str] = field(default_factory=set)  # names that went silent
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _watch: asyncio.Task[None] | None = None
    _checking: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def async_start(self) -> None:
        await self._async_open(interfaces.addresses_for(self.host))
        self._watch = asyncio.create_task(self._async_watch())

    async def async_stop(self) -> None:
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._async_close()

    @property
    def name(self) -> str:
        return self._info.name.removesuffix("." + SERVICE_TYPE) if self._info else self.instance

    @property
    def addresses(self) -> frozenset[str]:
        return self._addresses

    async def _async_open(self, addresses: frozenset[str]) -> None:
        self._addresses = addresses
        if not addresses:
            log.info("no network address yet: discovery waits for one")
            return
        aiozc = AsyncZeroconf(interfaces=sorted(addresses), ip_version=IPVersion.V4Only)
        self._aiozc = aiozc
        info = self._make_info(f"{self.instance}.{SERVICE_TYPE}")
        self._info = info
        self._browser = AsyncServiceBrowser(
            aiozc.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )
        await (await aiozc.async_register_service(info, allow_name_change=True))
        if self.name != self.instance and self.on_renamed:
            log.warning("mDNS name %s was taken: now %s", self.instance, self.name)
            self.instance = self.name
            await self.on_renamed(self.name)
        log.info("announced %s on %s", self.name, ", ".join(sorted(addresses)))

    def _make_info(self, name: str) -> AsyncServiceInfo:
        advert = self.advert()
        self._published = encode_txt(advert)
        short = advert.node_id.replace("-", "")[:10].lower()
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name,
            port=advert.sync_port,
            properties=self._published,
            server=f"meshportal-{short}.local.",
            parsed_addresses=sorted(self._addresses),
            host_ttl=max(1, round(self.ttl)),
            other_ttl=max(1, round(self.ttl)),
        )

    async def _async_close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._browser:
            await self._browser.async_cancel()
            self._browser = None
        if self._aiozc:
            with contextlib.suppress(Exception):  # a vanished interface may refuse the goodbye
                await self._aiozc.async_unregister_all_services()
            await self._aiozc.async_close()
            self._aiozc = None
        self._info = None
        for node_id in set(self._names.values()):
            await self.on_gone(node_id)
        self._names.clear()
        self._lost.clear()

    async def _async_watch(self) -> None:
        while True:
            await asyncio.sleep(max(MIN_CHECK, self.check_every))
            try:
                await self.async_check()
            except Exception:  # one bad check must not end discovery for good
                log.exception("discovery check failed")

    async def async_check(self) -> None:
        """Restart on new addresses; re-announce when the TXT records changed."""
        async with self._checking:  # the timer and an admin command may both ask
            await self._async_check()

    async def _async_check(self) -> None:
        addresses = interfaces.addresses_for(self.host)
        if addresses != self._addresses:
            log.info("network addresses changed (%s): restarting discovery", sorted(addresses))
            self.restarts += 1
            await self._async_close()
            await self._async_open(addresses)
            return
        await self._async_age()
        if self._aiozc and self._info and encode_txt(self.advert()) != self._published:
            self._info = self._make_info(self._info.name)
            await (await self._aiozc.async_update_service(self._info))

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if service_type != SERVICE_TYPE:
            return  # foreign services never reach us, but a browser may be shared one day
        if state_change is ServiceStateChange.Removed:
            self._lost.discard(name)
            self._spawn(self._async_removed(name))
        else:
            self._spawn(self._async_resolve(zeroconf, name))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _async_resolve(self, zeroconf: Zeroconf, name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if await info.async_request(zeroconf, RESOLVE_MS):
            await self._async_accept(name, info)

    async def _async_age(self) -> None:
        """Notice peers that vanished without a goodbye, and their return.

        zeroconf keeps a PTR record at least 1125 s whatever its TTL says, so
        its browser would report a silent departure only after ~19 min.  The
        SRV/TXT records do expire at their TTL: a peer whose records are no
        longer in the cache is asked again, once; no answer means gone.  A
        live peer thus costs one query per TTL.  A peer that comes back
        announces itself, and its records reappear in the cache.
        """
        if self._aiozc is None:
            return
        zc = self._aiozc.zeroconf

        async def check(name: str) -> None:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if info.load_from_cache(zc):
                return
            if not await info.async_request(zc, RESOLVE_MS):
                self._lost.add(name)
                await self._async_removed(name)

        await asyncio.gather(*(check(name) for name in list(self._names)))
        for name in list(self._lost):
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if info.load_from_cache(zc):
                self._lost.discard(name)
                await self._async_accept(name, info)

    async def _async_accept(self, name: str, info: AsyncServiceInfo) -> None:
        try:
            advert = decode_txt(info.properties)
        except AdvertError as exc:
            log.debug("ignoring %s: %s", name, exc)
            return
        if self._info is not None and name == self._info.name:
            return
        own = self.advert().node_id
        if advert.node_id == own:
            return
        self._names[name] = advert.node_id
        await self.on_seen(advert, info.parsed_addresses(IPVersion.V4Only))

    async def _async_removed(self, name: str) -> None:
        node_id = self._names.pop(name, None)
        if node_id and node_id not in self._names.values():
            await self.on_gone(node_id)

    def online(self) -> set[str]:
        return set(self._names.values())
