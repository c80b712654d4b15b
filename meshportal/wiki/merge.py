"""Three-way merge of whole texts, for two visitors saving the same page on the same box.

Both start from the same base revision; the first save lands as is; the second is merged
as the text CRDT would merge two concurrent edits: every deletion applies, every
insertion is kept, and where both inserted at the same place the earlier save's text
comes first.  Nobody's words are lost, and no conflict markers are left for a visitor
who only wanted to fix a typo.
"""

from __future__ import annotations

from sync.textdiff import diff_patches

__all__ = ["merge3"]

Edit = tuple[int, int, str, int]  # base start, base end, inserted text, side (0 first, 1 second)


def _edits(base: str, other: str, side: int) -> list[Edit]:
    out: list[Edit] = []
    shift = 0  # diff_patches' positions are relative to the text after earlier patches
    for pos, delete, insert in diff_patches(base, other):
        start = pos - shift
        out.append((start, start + delete, insert, side))
        shift += len(insert) - delete
    return out


def _merge_group(base: str, start: int, end: int, group: list[Edit]) -> str:
    deleted = [False] * (end - start)
    inserts: dict[int, list[str]] = {}
    for s, e, text, _side in sorted(group, key=lambda edit: (edit[0], edit[3])):
        for p in range(s, e):
            deleted[p - start] = True
        if text:
            inserts.setdefault(s, []).append(text)
    out: list[str] = []
    for p in range(start, end + 1):
        out.extend(inserts.get(p, ()))
        if p < end and not deleted[p - start]:
            out.append(base[p])
    return "".join(out)


def merge3(base: str, first: str, second: str) -> str:
    """`first` and `second` both derive from `base`; keep the changes of both."""
    if first == second or second == base:
        return first
    if first == base:
        return second
    edits = sorted(_edits(base, first, 0) + _edits(base, second, 1), key=lambda e: (e[0], e[3]))
    out: list[str] = []
    cursor = 0
    i = 0
    while i < len(edits):
        group = [edits[i]]
        group_start, group_end = edits[i][0], edits[i][1]
        i += 1
        while i < len(edits) and edits[i][0] <= group_end:
            group.append(edits[i])
            group_end = max(group_end, edits[i][1])
            i += 1
        out.append(base[cursor:group_start])
        out.append(_merge_group(base, group_start, group_end, group))
        cursor = group_end
    out.append(base[cursor:])
    return "".join(out)
