"""From "old text, new text" to a few (position, deleted, inserted) patches.

The wiki saves whole pages; the text CRDT wants edits.  A diff that touches only what
changed keeps other boxes' concurrent edits of the untouched parts intact.

Strategy, fast on 100 KB pages:
1. strip the common prefix and suffix (one C-speed comparison per chunk): a typical
   save changes a few lines, so this leaves a small middle;
2. diff the middle by lines with ``difflib.SequenceMatcher`` (junk heuristics off: they
   drop frequent lines such as blank ones and give odd diffs on long pages);
3. inside each replaced block of lines, diff by characters when the block is small
   enough for the quadratic matcher, else replace the block whole.

Patches come out in order and each position is relative to the text left by the
patches before it, the editing-trace convention, so they can be applied one by one.
"""

from __future__ import annotations

from difflib import SequenceMatcher

Patch = tuple[int, int, str]

_CHAR_DIFF_LIMIT = 4_000  # chars per side: above this, SequenceMatcher gets slow
_CHUNK = 256


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, comparing whole chunks before single characters."""
    limit = min(len(a), len(b))
    n = 0
    while n + _CHUNK <= limit and a[n : n + _CHUNK] == b[n : n + _CHUNK]:
        n += _CHUNK
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def common_suffix(a: str, b: str, limit: int) -> int:
    n = 0
    la, lb = len(a), len(b)
    while n + _CHUNK <= limit and a[la - n - _CHUNK : la - n] == b[lb - n - _CHUNK : lb - n]:
        n += _CHUNK
    while n < limit and a[la - n - 1] == b[lb - n - 1]:
        n += 1
    return n


def diff_patches(old: str, new: str) -> list[Patch]:
    if old == new:
        return []
    head = common_prefix(old, new)
    tail = common_suffix(old, new, min(len(old), len(new)) - head)
    middle_old = old[head : len(old) - tail]
    middle_new = new[head : len(new) - tail]
    patches: list[Patch] = []
    _diff_middle(middle_old, middle_new, head, patches)
    return patches


def _diff_middle(old: str, new: str, base: int, out: list[Patch]) -> None:
    if not old or not new:
        out.append((base, len(old), new))
        return
    if (
        len(old) <= _CHAR_DIFF_LIMIT
        and len(new) <= _CHAR_DIFF_LIMIT
        and ("\n" not in old or "\n" not in new)
    ):
        _diff_chars(old, new, base, out)
        return
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    matcher = SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    shift = 0  # how far later positions moved because of patches already emitted
    offset_old = [0]
    for line in old_lines:
        offset_old.append(offset_old[-1] + len(line))
    offset_new = [0]
    for line in new_lines:
        offset_new.append(offset_new[-1] + len(line))
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a = old[offset_old[i1] : offset_old[i2]]
        b = new[offset_new[j1] : offset_new[j2]]
        pos = base + offset_old[i1] + shift
        if tag == "replace" and len(a) <= _CHAR_DIFF_LIMIT and len(b) <= _CHAR_DIFF_LIMIT:
            _diff_chars(a, b, pos, out)
        else:
            out.append((pos, len(a), b))
        shift += len(b) - len(a)


def _diff_chars(old: str, new: str, base: int, out: list[Patch]) -> None:
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    shift = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        out.append((base + i1 + shift, i2 - i1, new[j1:j2]))
        shift += (j2 - j1) - (i2 - i1)


def apply_patches(text: str, patches: list[Patch]) -> str:
    """Apply patches in order (for tests and for reading past versions)."""
    for pos, deleted, inserted in patches:
        text = text[:pos] + inserted + text[pos + deleted :]
    return text
