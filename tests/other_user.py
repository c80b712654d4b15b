"""Running this Python, as root, in a world where another user can run it too.

A process that becomes another user (the CLI dropping root, a daemon started as
``nobody``) must still read the interpreter, the virtual environment and the code.  Here
they may sit under a folder only root may enter (``/root``, mode 0700), and so may the
test's own temporary folder.  Changing those modes would change the machine; instead each
command runs in a mount namespace of its own (``unshare --mount``, private, gone with the
command) where a world-readable tmpfs covers each such folder and only the paths the
command needs are bound back in.  Nothing outside the namespace sees it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import ROOT

NOBODY = 65534  # the kernel's overflow uid and gid, owned by no one on the machine

# The shell script `wrap` writes: for each hidden folder, a bind of the original to a
# staging place, a tmpfs over it, and the needed paths bound back; then "$@", the command.
_PREAMBLE = "set -e\nstage=$(mktemp -d)\n"


def why_not() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: the test starts a command as root and a daemon as another user"
    missing = [tool for tool in ("unshare", "mount", "setpriv") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make a mount namespace here: {probe.stderr.decode().strip()}"
    return None


def _searchable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXOTH)


def _hidden_ancestor(path: Path) -> Path | None:
    """The topmost folder above `path` that others cannot enter."""
    for ancestor in reversed(path.parents):
        if not _searchable_by_others(ancestor):
            return ancestor
    return None


def _needed(extra: Iterable[Path]) -> list[Path]:
    paths = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, ROOT, *extra)}
    paths |= {Path(p).resolve() for p in sys.path if p and Path(p).is_dir()}
    paths.add(Path(sys.executable).resolve().parent)
    # a path inside another one comes with it
    needed: list[Path] = []
    for path in sorted(p for p in paths if not any(q in p.parents for q in paths)):
        if path.is_dir() and not _searchable_by_others(path):
            # the folder itself is closed (a clone made by mktemp -d is 0700): a bind
            # keeps its mode, so its entries come back one by one under an open tmpfs
            needed.extend(sorted(path.iterdir()))
        else:
            needed.append(path)
    return needed


def wrap(command: list[str], extra: Iterable[Path] = ()) -> list[str]:
    """`command` (run as root) inside a namespace where other users reach what it needs."""
    script = [_PREAMBLE]
    by_hidden: dict[Path, list[Path]] = {}
    for path in _needed(extra):
        hidden = _hidden_ancestor(path)
        if hidden is not None:
            by_hidden.setdefault(hidden, []).append(path)
    for index, (hidden, paths) in enumerate(sorted(by_hidden.items())):
        staged = f'"$stage/{index}"'
        script.append(f"mkdir {staged}; mount --bind {shlex.quote(str(hidden))} {staged}\n")
        script.append(f"mount -t tmpfs -o mode=0755,size=64k tmpfs {shlex.quote(str(hidden))}\n")
        for path in paths:
            inside = shlex.quote(str(path.relative_to(hidden)))
            target = shlex.quote(str(path))
            make = "mkdir -p" if path.is_dir() else "touch"  # a bind needs its mount point
            script.append(f"{make} {target}; mount --bind {staged}/{inside} {target}\n")
        script.append(f"umount -l {staged}; rmdir {staged}\n")
    script.append('rmdir "$stage"\nexec "$@"\n')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "".join(script),
            "sh", *command]  # fmt: skip


def as_user(uid: int, gid: int, command: list[str]) -> list[str]:
    """`command` run as that user and group, with no other group (for `wrap`)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
