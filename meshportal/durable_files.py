"""Making a new file's name survive a power cut: after the rename, the folder itself is
fsynced (the file's own fsync covers its bytes, not the directory entry pointing at it)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir"]


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
