"""What `meshportal status` shows: gathered in the daemon, or read from the data folder.

Each part of the daemon that has something to say (visitors, peers, sync)
registers a *status section* provider on the app; the report is the core
facts plus every section.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from meshportal import __version__, identity, sysinfo
from meshportal.store import DB_FILE

StatusSection = Callable[[], Awaitable[dict[str, Any]]]


def offline_report(data_dir: Path) -> dict[str, Any]:
    """What can be known with the daemon stopped: only files on disk."""
    return {
        "running": False,
        "version": __version__,
        "node_id": identity.read_node_id(data_dir),
        "data_dir": str(data_dir.resolve()),
        "database_bytes": sysinfo.file_size(data_dir / DB_FILE),
        "free_disk_bytes": sysinfo.free_disk_bytes(data_dir),
        "internet": sysinfo.has_default_route(),
    }


def live_report(data_dir: Path, node_id: str, started: float) -> dict[str, Any]:
    report = offline_report(data_dir)
    report.update(
        running=True,
        pid=os.getpid(),
        node_id=node_id,
        uptime_seconds=round(time.time() - started, 1),
        memory_bytes=sysinfo.rss_bytes(),
        event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
    )
    return report


_LABELS = {
    "fr": {
        "running": "en marche",
        "stopped": "meshportal ne tourne pas",
        "node_id": "identifiant",
        "data": "données",
        "database": "base",
        "free": "libres",
        "memory": "mémoire",
        "uptime": "depuis",
        "internet": "internet",
        "offline": "aucun — normal pour une boîte hors ligne",
        "online": "une route vers l'extérieur existe",
        "unknown": "inconnu (lancez 'meshportal init')",
        "trusted": "de confiance",
        "untrusted": "NON approuvée",
        "revoked": "révoquée",
        "blocked": "bloquée",
        "seen": "vue il y a",
        "synced": "synchro il y a",
        "never": "jamais",
        "lag": "retard/avance",
        "error": "erreur",
        "syncing": "synchro en cours",
    },
    "en": {
        "running": "running",
        "stopped": "meshportal is not running",
        "node_id": "node id",
        "data": "data",
        "database": "database",
        "free": "free",
        "memory": "memory",
        "uptime": "up",
        "internet": "internet",
        "offline": "none — the normal state of an offline box",
        "online": "a route off the box exists",
        "unknown": "unknown (run 'meshportal init')",
        "trusted": "trusted",
        "untrusted": "NOT trusted",
        "revoked": "revoked",
        "blocked": "blocked",
        "seen": "seen",
        "synced": "synced",
        "never": "never",
        "lag": "behind/ahead",
        "error": "error",
        "syncing": "syncing",
    },
}


def admin_language(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    lang = env.get("LC_ALL") or env.get("LC_MESSAGES") or env.get("LANG") or ""
    return "en" if lang.startswith("en") else "fr"


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {int(seconds) % 60:02d} s"


def _compact(item: Any) -> str:
    """A dict as ``key value`` pairs, leaving out the empty ones."""
    if not isinstance(item, dict):
        return str(item)
    return "; ".join(
        f"{key} {', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in item.items()
        if value not in (None, "", [], 0) or key in ("trusted", "online")
    )


def _ago(then: float | None, words: dict[str, str], now: float) -> str:
    if not then:
        return words["never"]
    return human_duration(max(0.0, now - then))


def format_peer(peer: dict[str, Any], words: dict[str, str], now: float | None = None) -> str:
    """One peer on one line: who, trust, where, when seen and synced, lag, bytes, error."""
    now = time.time() if now is None else now
    trust = (
        "blocked" if peer.get("blocked")
        else "revoked" if peer.get("revoked")
        else "trusted" if peer.get("trusted") else "untrusted"
    )  # fmt: skip
    where = ", ".join(peer.get("addresses") or []) or "-"
    if peer.get("sync_port"):
        where += f" :{peer['sync_port']}"
    behind, ahead = peer.get("behind"), peer.get("ahead")
    lag = "-" if behind is None else f"{behind}/{ahead}"
    parts = [
        f"{peer.get('name') or '?'} {peer['node_id']} ({words[trust]})",
        where,
        f"{words['seen']} {_ago(peer.get('last_seen'), words, now)}",
        f"{words['synced']} {_ago(peer.get('last_sync'), words, now)}",
        f"{words['lag']} {lag}",
        f"↓{human_bytes(peer.get('bytes_in', 0))} ↑{human_bytes(peer.get('bytes_out', 0))}",
    ]
    if peer.get("syncing"):
        parts.append(f"{words['syncing']} ({peer['syncing'].get('applied', 0)})")
    if peer.get("last_error"):
        parts.append(f"{words['error']}: {peer['last_error']}")
    return "; ".join(parts)


def format_report(report: dict[str, Any], lang: str = "fr") -> str:
    words = _LABELS[lang]
    lines: list[str] = []
    if report["running"]:
        lines.append(
            f"meshportal {report['version']} — {words['running']} (pid {report['pid']}, "
            f"{words['uptime']} {human_duration(report['uptime_seconds'])})"
        )
    else:
        lines.append(words["stopped"])
    rows = [
        (words["node_id"], report.get("node_id") or words["unknown"]),
        (
            words["data"],
            f"{report['data_dir']} ({words['database']} {human_bytes(report['database_bytes'])},"
            f" {human_bytes(report['free_disk_bytes'])} {words['free']})",
        ),
    ]
    if "memory_bytes" in report:
        rows.append((words["memory"], human_bytes(report["memory_bytes"])))
    rows.append((words["internet"], words["online"] if report["internet"] else words["offline"]))
    for name, section in report.get("sections", {}).items():
        for key, value in section.items():
            if isinstance(value, list):
                # A list (peers, visitors…): one row per item, the label once.
                if key == "peers":
                    items = [format_peer(item, words) for item in value] or ["-"]
                else:
                    items = [_compact(item) for item in value] or ["-"]
                rows.extend((f"{name}.{key}" if i == 0 else "", t) for i, t in enumerate(items))
            else:
                rows.append((f"{name}.{key}", str(value)))
    width = max(len(label) for label, _ in rows)
    lines.extend(f"  {label.ljust(width)}  {value}" for label, value in rows)
    return "\n".join(lines)
