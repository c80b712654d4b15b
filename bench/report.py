"""The pure part of `python -m bench`: known summary keys, the machine record,
the Markdown report and the regression comparison. No subprocesses here.

Each suite writes bench/results/<suite>.json with a top-level "summary" object
(bench_X.py writes bench_X.json, or X.json as bench_portal.py writes portal.json)
mapping the keys below to numbers (see bench/report_keys.md), and may add a
"not_measured" object mapping a key to the reason it could not measure it. A
missing figure is shown as "not measured" with a reason, never guessed.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Key:
    name: str
    label: str
    unit: str
    higher_is_better: bool
    suite: str  # the results file that publishes it: bench/results/<suite>.json
    capacity: bool = False  # part of the "what one box can carry" summary


KEYS: tuple[Key, ...] = (
    Key(
        "portal.page_views_per_s",
        "visitors' page views",
        "per s",
        True,
        "portal",
        capacity=True,
    ),
    Key("wiki.saves_per_s", "wiki saves", "per s", True, "portal", capacity=True),
    Key(
        "sync.remote_changes_per_s",
        "remote changes applied",
        "per s",
        True,
        "bench_sync",
        capacity=True,
    ),
    Key(
        "sync.wiki_10k_sync_s",
        "sync a 10,000-page wiki from a peer",
        "s",
        False,
        "bench_mesh_sync",
        capacity=True,
    ),
    Key("sync.trace_replay_s", "automerge-paper replay", "s", False, "bench_text"),
    Key("sync.history_load_ms", "load whole history", "ms", False, "bench_text"),
    Key("captive.probes_per_s", "captive probes answered", "per s", True, "bench_captive"),
    Key("startup.ready_ms", "daemon time to ready", "ms", False, "bench_startup"),
    Key("startup.ready_ratio", "time to ready / aiohttp hello-world", "x", False, "bench_startup"),
    Key("startup.idle_rss_mib", "idle RSS", "MiB", False, "bench_startup"),
)
BY_NAME = {key.name: key for key in KEYS}


def machine() -> dict[str, Any]:
    """Architecture, CPU model, core count and Python version of this box."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            # x86 says "model name"; arm64 kernels often give only "CPU part".
            field, _, value = line.partition(":")
            if field.strip() in ("model name", "Model", "Hardware") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    return {
        "arch": platform.machine(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def merged_summary(suites: dict[str, dict[str, Any]]) -> dict[str, float]:
    """All suites' summary figures in one dict; unknown keys are kept too."""
    merged: dict[str, float] = {}
    for result in suites.values():
        summary = result.get("summary") or {}
        for name, value in summary.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                merged[name] = float(value)
    return merged


def missing_reasons(
    suites: dict[str, dict[str, Any]], runs: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Why each known key has no figure: the suite's own word, else its run status."""
    said: dict[str, str] = {}
    for result in suites.values():
        for name, reason in (result.get("not_measured") or {}).items():
            said[str(name)] = str(reason)
    merged = merged_summary(suites)
    reasons: dict[str, str] = {}
    for key in KEYS:
        if key.name in merged:
            continue
        run = runs.get(key.suite)
        if key.name in said:
            reasons[key.name] = said[key.name]
        elif run is None:
            reasons[key.name] = f"{key.suite} did not run in this report"
        elif not run.get("fresh"):
            reasons[key.name] = f"{key.suite}: {run.get('status')}"
        else:
            reasons[key.name] = f"{key.suite} does not publish it yet"
    return reasons


def _fmt(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    figures: dict[str, float] = report["summary"]
    lines = [
        "# meshportal benchmark report",
        "",
        f"Machine: {m['arch']}, {m['cpu_model']}, {m['cores']} cores, Python {m['python']}"
        + (" (quick run)" if report.get("quick") else ""),
        "",
        "## What one box can carry",
        "",
        "| figure | value | unit |",
        "|---|---:|---|",
    ]
    reasons: dict[str, str] = report.get("not_measured", {})
    for key in KEYS:
        if key.capacity:
            value = figures.get(key.name)
            shown = _fmt(value)
            if value is None:
                shown += f" ({reasons.get(key.name, 'no suite published it')})"
            lines.append(f"| {key.label} | {shown} | {key.unit} |")
    lines += ["", "## All figures", "", "| key | value | unit |", "|---|---:|---|"]
    for name in sorted(figures):
        unit = BY_NAME[name].unit if name in BY_NAME else ""
        lines.append(f"| `{name}` | {_fmt(figures[name])} | {unit} |")
    lines += ["", "## Suites", "", "| suite | status | seconds |", "|---|---|---:|"]
    for name, run in sorted(report["runs"].items()):
        lines.append(f"| {name} | {run['status']} | {run['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Regression:
    name: str
    baseline: float
    current: float
    change: float  # fraction worse than baseline, > 0


def regressions(
    baseline: dict[str, float], current: dict[str, float], threshold: float
) -> list[Regression]:
    """Known keys that got worse than `baseline` by more than `threshold` (0.25 = 25 %).

    A figure missing from the current run counts as a regression: a suite that
    stopped publishing must not pass silently.
    """
    found = []
    for name, before in sorted(baseline.items()):
        key = BY_NAME.get(name)
        if key is None or before == 0:
            continue
        now = current.get(name)
        if now is None:
            found.append(Regression(name, before, float("nan"), float("inf")))
            continue
        worse = (before - now) / before if key.higher_is_better else (now - before) / before
        if worse > threshold:
            found.append(Regression(name, before, now, worse))
    return found
