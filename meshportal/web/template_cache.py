"""Compiled templates kept on disk, so a restarted box does not lex, parse and compile
them again: the first page after a start (the home page, usually) then costs about a
tenth of the CPU time and 0.4 MiB less (issue 2's start-up budget).

Jinja2's own ``FileSystemBytecodeCache`` does the work.  Its entries name the Jinja2
and Python versions and the template source's checksum, and one that does not match
is compiled again.  It is not enough for a box that must keep serving whatever its
disk holds, so this adds:

- an entry that Jinja2 cannot read is dropped and compiled again.  Jinja2 only copes
  with some damage: a file cut just after its header (a power cut before the rename
  reached the disk) or holding something else than code raises on every render of that
  template, until someone deletes the file;
- a folder that cannot be created or written costs the cache, never the page (Jinja2
  raises from its write);
- the file names carry a fingerprint of our environment's options, which change the
  compiled code but are not in Jinja2's key (the folder outlives an upgrade).

The folder belongs to the daemon's user alone, like its data: an entry is unpickled
and run as code, so whoever may write there may run code as the daemon.

Imported with Jinja2, on the first page rendered.
"""

from __future__ import annotations

import hashlib
import logging
import types
from pathlib import Path

import jinja2
from jinja2 import Environment
from jinja2.bccache import Bucket, FileSystemBytecodeCache

__all__ = ["SafeBytecodeCache", "bytecode_cache"]

log = logging.getLogger("meshportal.web")


class SafeBytecodeCache(FileSystemBytecodeCache):
    """``FileSystemBytecodeCache`` whose failures only ever cost a compilation."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        super().__init__(str(folder), f"{fingerprint}-%s.cache")
        self.writable = True

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception as exc:  # any damage: compile again, as for a miss
            log.warning("compiled template %s unreadable, compiling it again: %r", bucket.key, exc)
            bucket.reset()
            return
        if bucket.code is not None and not isinstance(bucket.code, types.CodeType):
            log.warning("compiled template %s holds no code, compiling it again", bucket.key)
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        if not self.writable:
            return
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            # once is enough: every template would fail the same way
            self.writable = False
            log.warning("compiled templates not kept in %s: %s", self.directory, exc)


def bytecode_cache(folder: Path, env: Environment) -> SafeBytecodeCache | None:
    """The cache in `folder` (created if missing) for `env`, set up as it will compile;
    None when the folder cannot be made, so pages render without it."""
    try:
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("compiled templates not kept: cannot create %s: %s", folder, exc.strerror)
        return None
    if not folder.is_dir():
        log.warning("compiled templates not kept: %s is not a folder", folder)
        return None
    return SafeBytecodeCache(folder, _fingerprint(env))


def _fingerprint(env: Environment) -> str:
    """What shapes compiled code besides the template's source (Jinja2 checks that)."""
    escape = env.autoescape
    described = (
        jinja2.__version__,
        sorted(env.extensions),
        env.block_start_string, env.block_end_string, env.variable_start_string,
        env.variable_end_string, env.comment_start_string, env.comment_end_string,
        env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks,
        env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline, env.optimized,
        env.finalize is not None, getattr(env, "newstyle_gettext", None),
        [escape(name) if callable(escape) else escape for name in ("a.html", "a.txt")],
    )  # fmt: skip
    return hashlib.sha1(repr(described).encode()).hexdigest()[:12]  # noqa: S324 - a name, not a secret
