"""Locate and load the editing traces of /work/shared/traces (see its README).

Resolution: $MESHPORTAL_SHARED, else the repository's parent's `shared/`, else the test is
skipped with the reason.  Files are never copied into the repository.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    env = os.environ.get("MESHPORTAL_SHARED")
    for candidate in ([Path(env)] if env else []) + [ROOT / ".." / "shared"]:
        if (candidate / "traces").is_dir():
            return candidate.resolve()
    return None


def load_trace(name: str) -> dict[str, Any]:
    base = shared_dir()
    if base is None:
        pytest.skip("shared traces not found: set MESHPORTAL_SHARED to the shared/ folder")
    path = base / "traces" / f"{name}.json.gz"
    if not path.is_file():
        pytest.skip(f"trace {path} is missing")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data
