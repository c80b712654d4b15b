"""`meshportal pack list`: every pack of this box, where it is from and whether it is served.

Pure: the daemon (from what it serves now) and the CLI with the daemon stopped (from
the disk and the database, as the next start would serve them) give the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshportal.pack_disk import pick_served
from meshportal.pack_withdrawals import REMOVED, UNTRUSTED, Withdrawal
from meshportal.packs import Pack

__all__ = ["NOT_ACCEPTED", "PackRow", "must_go", "pack_rows", "removal_problem", "would_serve"]

NOT_ACCEPTED = "not accepted"  # packs_accept no longer names it: no row, the setting decides

# status values: served; shadowed (another pack of that name is served: the higher
# version); withdrawn (reason REMOVED or UNTRUSTED); pending (withdrawn, but its folder
# goes at the next start: the daemon is stopped); back (withdrawn for its publisher,
# who is trusted again: re-installed at the next pass)


@dataclass(frozen=True)
class PackRow:
    name: str
    version: str
    origin: str  # "local" (this box's content/ folder) or "received"
    publisher: str  # node id; "" for local packs, and for received ones of unknown origin
    path: str  # "" once withdrawn
    status: str
    reason: str = ""  # REMOVED, UNTRUSTED or NOT_ACCEPTED, for withdrawn and pending

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def must_go(name: str, publisher: str, withdrawn: dict[str, Withdrawal],
            trusted: Callable[[str], bool], accepts: Callable[[str], bool]) -> str:  # fmt: skip
    """Why an installed pack is withdrawn at the next pass ("" if it stays): the one rule
    of the daemon's passes (PackShare._enforce) and of `pack list` with it stopped."""
    item = withdrawn.get(name)
    if item is not None and item.reason == REMOVED:
        return REMOVED
    if not trusted(publisher):
        return UNTRUSTED
    return "" if accepts(name) else NOT_ACCEPTED


def would_serve(
    shipped: list[Pack], received: list[Pack], publishers: dict[str, str],
    withdrawn: dict[str, Withdrawal], trusted: Callable[[str], bool],
    accepts: Callable[[str], bool],
) -> list[Pack]:  # fmt: skip
    """What the daemon serves once its start pass has withdrawn what must go."""
    kept = [
        p for p in received
        if not must_go(p.name, publishers.get(p.name, ""), withdrawn, trusted, accepts)
    ]  # fmt: skip
    return pick_served(shipped, kept)


def pack_rows(
    shipped: Iterable[Pack],
    received: Iterable[Pack],
    publishers: dict[str, str],
    withdrawn: dict[str, Withdrawal],
    trusted: Callable[[str], bool],
    accepts: Callable[[str], bool],
    served: Iterable[Path],
) -> list[PackRow]:
    """One row per pack folder of the box, then one per withdrawn pack, by name."""
    serving = set(served)
    rows = []
    for pack in shipped:
        status = "served" if pack.path in serving else "shadowed"
        rows.append(PackRow(pack.name, pack.version, "local", "", str(pack.path), status))
    present = set()
    for pack in received:
        present.add(pack.name)
        publisher = publishers.get(pack.name, "")
        if pack.path in serving:
            status, reason = "served", ""
        else:
            reason = must_go(pack.name, publisher, withdrawn, trusted, accepts)
            status = "pending" if reason else "shadowed"
        rows.append(
            PackRow(pack.name, pack.version, "received", publisher, str(pack.path), status, reason)
        )
    for name, item in withdrawn.items():
        if name in present:
            continue
        back = item.reason == UNTRUSTED and trusted(item.publisher)
        status = "back" if back else "withdrawn"
        rows.append(
            PackRow(name, item.version, "received", item.publisher, "", status, item.reason)
        )
    return sorted(rows, key=lambda r: (r.name, r.origin != "local", r.version))


def removal_problem(
    name: str, received: Iterable[str], withdrawn: dict[str, Withdrawal], shipped: Iterable[Pack]
) -> str:
    """Why `pack remove NAME` cannot: "local" (only this box's own content/ has it),
    "unknown" (no such pack), "" when it can."""
    if name in set(received) or name in withdrawn:
        return ""
    return "local" if any(p.name == name for p in shipped) else "unknown"
