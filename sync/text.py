"""The text CRDT: a sequence of Unicode code points that replicas edit concurrently.

Algorithm: YATA (Nicolaescu, Jahns, Derntl, Klamma: "Near Real-Time Peer-to-Peer
Shared Editing on Extensible Data Types", GROUP 2016), in the form Yjs integrates
it.  Each inserted run remembers the character it was typed after (``left_id``) and
the one it was typed before (``right_id``).  Concurrent inserts at the same place are
ordered by the scan in ``_integrate``, which keeps each run whole: two people typing
"Bonjour" and "Salut" at the same spot get one word then the other, never a mix.

Representation, chosen for small boards:
- runs of consecutive characters typed by one origin are ONE item (a pasted paragraph
  is one item, and so is a word typed key by key, which extends the item in place);
- deleted runs keep only their id range and length (no text), and adjacent tombstones
  merge again, so deleting a paragraph leaves one small item;
- items live in blocks of at most 2 * ``_BLOCK`` items with a cached visible length per
  block, and a cursor remembers the last block used, so locating a position costs a
  few steps while someone types, whatever the document's size;
- a block stores its items as parallel columns (lists of ints and strings), not one
  object per item: the garbage collector then tracks a few lists per block instead of
  millions of items, and a state's encoding is the columns end to end (``_Block``).

Positions are code points (Python ``str`` indices): never UTF-8 bytes, never UTF-16
units, so "é", "🌍" and "e\u0301" count as the user sees them in Python.

Operations (compact msgpack values, the wire format of ``sync/PROTOCOL.md``):

| op | meaning |
|---|---|
| ``["i", counter, text, left, right]`` | insert ``text``; char k has id ``(origin, counter + k)`` |
| | ``left``, ``right``: ids ``[origin, counter]`` it was typed between, or ``None`` |
| ``["d", [[origin, start, length], ...]]`` | delete the characters with those id ranges |
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate, chain
from operator import add
from typing import Any, ClassVar, Self

import msgpack

from sync.errors import MalformedInput, MalformedOp
from sync.textdiff import diff_patches

Id = tuple[str, int]

_BLOCK = 16  # items per block before it splits in two
# State format written: 3.  [3, origins, o, c, n, text, lo, lc, ro, rc]: the item columns,
# origins (o, lo, ro) as indexes into `origins` (-1: no neighbour), or all three nil when
# `origins` has one entry; n negative for a tombstone; text the visible items' texts
# joined.  Formats 2 (a list of texts, positive lengths) and 1 (one row per item) are
# still read.
_FORMAT = 3
_NO_COUNTER = -1  # the counter column's value where an item has no left/right neighbour


class PositionError(ValueError):
    """A local edit names a position outside the text."""


class _Block:
    """Up to 2 * _BLOCK consecutive items, stored as parallel columns.

    Item ``i`` of the block is ``(o[i], c[i])``, the id of its first character, ``n[i]``
    characters long, ``t[i]`` its text or None for a tombstone, typed between the
    characters ``(lo[i], lc[i])`` and ``(ro[i], rc[i])`` (None/-1: the document's edge).

    Why columns and not one object per item: a wiki box holds millions of items, and
    every object that can hold references is tracked by CPython's cyclic garbage
    collector, whose passes re-walk them all (measured: 28 % of a replay); lists of
    strings and ints are a handful of tracked objects per block.  They also make the
    state's encoding a concatenation of columns.
    """

    __slots__ = ("c", "lc", "lo", "n", "o", "rc", "ro", "t", "visible")

    def __init__(
        self,
        o: list[str],
        c: list[int],
        n: list[int],
        t: list[str | None],
        lo: list[str | None],
        lc: list[int],
        ro: list[str | None],
        rc: list[int],
    ) -> None:
        self.o, self.c, self.n, self.t = o, c, n, t
        self.lo, self.lc, self.ro, self.rc = lo, lc, ro, rc
        self.visible = sum([k for k, s in zip(n, t, strict=True) if s is not None])

    def cut(self, at: int) -> _Block:
        """Move items from ``at`` on into a new block, returned."""
        columns = self.columns()
        tail = _Block(*[column[at:] for column in columns])
        for column in columns:
            del column[at:]
        self.visible -= tail.visible
        return tail

    def remove(self, i: int) -> None:
        for column in self.columns():
            del column[i]

    def columns(self) -> tuple[list[Any], ...]:
        return (self.o, self.c, self.n, self.t, self.lo, self.lc, self.ro, self.rc)


def _empty_block() -> _Block:
    return _Block([], [], [], [], [], [], [], [])


def _check_id(value: Any, what: str) -> Id | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or type(value[1]) is not int
        or value[1] < 0
    ):
        raise MalformedOp(f"text {what} must be [origin, counter] or nil")
    return (value[0], value[1])


class TextDoc:
    """A text document: edit locally by position, apply remote operations, read it."""

    type_name: ClassVar[str] = "text"

    def __init__(self) -> None:
        self._blocks: list[_Block] = [_empty_block()]
        # origin -> (sorted run starts, the block holding each run): finds any id's item
        self._runs: dict[str, tuple[list[int], list[_Block]]] = {}
        self._next: dict[str, int] = {}  # origin -> first unused counter
        self._length = 0
        self._cursor_block = 0
        self._cursor_prefix = 0  # visible characters before the cursor block
        # the item last found in the cursor block, and the visible characters before it
        # in that block: typing on finds its place without rescanning the block.  Only
        # valid while no item before it changed: set to -1 by whatever could do that.
        self._hint_item = -1
        self._hint_prefix = 0
        self._text_cache: str | None = ""

    # --- reading ---------------------------------------------------------------------

    def value(self) -> str:
        if self._text_cache is None:
            self._text_cache = "".join([s for b in self._blocks for s in b.t if s is not None])
        return self._text_cache

    def __len__(self) -> int:
        return self._length

    def item_count(self) -> int:
        return sum(len(b.o) for b in self._blocks)

    def size_hint(self) -> int:
        """Items held (tombstones included): what encode_state costs, in rough units."""
        return len(self._blocks) * _BLOCK

    # --- local edits -------------------------------------------------------------------

    def local_insert(self, origin: str, pos: int, text: str) -> list[Any] | None:
        """Insert ``text`` at code-point ``pos``; returns the op to send (None if empty)."""
        if not text:
            return None
        if type(pos) is not int or not 0 <= pos <= self._length:
            raise PositionError(f"insert position {pos} outside 0..{self._length}")
        counter = self._next.get(origin, 0)
        n = len(text)
        self._next[origin] = counter + n
        self._text_cache = None
        self._length += n
        if pos == 0:
            self._hint_item = -1  # every item of block 0 moves up by one
            right = self._first_id()
            blk = self._blocks[0]
            self._insert_item(
                blk, 0, origin, counter, n, text, None, _NO_COUNTER,
                right[0] if right else None, right[1] if right else _NO_COUNTER,
            )  # fmt: skip
            blk.visible += n
            if self._cursor_block:
                self._cursor_prefix += n
            if len(blk.o) > 2 * _BLOCK:
                self._rebalance(0)
            return ["i", counter, text, None, list(right) if right else None]
        bi, i, off = self._locate(pos - 1)
        blk = self._blocks[bi]
        if off < blk.n[i] - 1:
            self._split(blk, i, off + 1)
        left_o = blk.o[i]
        left_c = blk.c[i] + blk.n[i] - 1
        if i + 1 < len(blk.o):
            right_o: str | None = blk.o[i + 1]
            right_c = blk.c[i + 1]
        else:
            right = self._first_id(bi + 1)
            right_o, right_c = right if right else (None, _NO_COUNTER)
        op: list[Any] = [
            "i",
            counter,
            text,
            [left_o, left_c],
            None if right_o is None else [right_o, right_c],
        ]
        blk.visible += n
        if (
            left_o == origin
            and left_c + 1 == counter
            and blk.t[i] is not None
            and blk.rc[i] == right_c
            and blk.ro[i] == right_o
        ):
            # Typing on at the end of one's own run: the run grows, no new item.
            blk.t[i] += text  # type: ignore[operator]
            blk.n[i] += n
        else:
            self._insert_item(
                blk, i + 1, origin, counter, n, text, left_o, left_c, right_o, right_c
            )
            if len(blk.o) > 2 * _BLOCK:
                self._rebalance(bi)
        return op

    def local_delete(self, origin: str, pos: int, length: int) -> list[Any] | None:
        """Delete ``length`` code points from ``pos``; returns the op (None if empty)."""
        if length == 0:
            return None
        if (
            type(pos) is not int
            or type(length) is not int
            or pos < 0
            or length < 0
            or pos + length > self._length
        ):
            raise PositionError(f"delete {pos}+{length} outside 0..{self._length}")
        ranges: list[list[Any]] = []
        bi, i, off = self._locate(pos)
        blk = self._blocks[bi]
        start = blk.c[i] + off
        if self._delete_into_tombstone(blk, i, off, length):
            return ["d", [[blk.o[i], start, length]]]
        self._hint_item = -1  # tombstones merging below may renumber items before it
        origin_i = blk.o[i]
        if off and self._hollow(blk, i, off, length):
            self._text_cache = None
            return ["d", [[origin_i, start, length]]]
        if off:
            self._split(blk, i, off)
            i += 1
        remaining = length
        self._length -= length
        self._text_cache = None
        # positions at or after the cursor block: the cursor's prefix is unaffected
        while remaining:
            if i >= len(blk.o):
                if len(blk.o) > 2 * _BLOCK:
                    self._rebalance(bi)
                    bi += 1  # the moved half holds only items already walked
                bi += 1
                blk = self._blocks[bi]
                i = 0
                continue
            if blk.t[i] is not None:
                k = blk.n[i]
                if k > remaining:
                    self._split(blk, i, remaining)
                    k = remaining
                blk.t[i] = None
                blk.visible -= k
                remaining -= k
                item_o, item_c = blk.o[i], blk.c[i]
                last = ranges[-1] if ranges else None
                if last and last[0] == item_o and last[1] + last[2] == item_c:
                    last[2] += k
                else:
                    ranges.append([item_o, item_c, k])
                i = self._merge_tombstone(blk, i)
            i += 1
        if len(blk.o) > 2 * _BLOCK:
            self._rebalance(bi)
        return ["d", ranges]

    def local_replace(self, origin: str, new_text: str) -> list[list[Any]]:
        """Turn "this is the whole new text" into the few ops that make it so."""
        ops: list[list[Any]] = []
        for pos, deleted, inserted in diff_patches(self.value(), new_text):
            if deleted:
                op = self.local_delete(origin, pos, deleted)
                if op is not None:
                    ops.append(op)
            if inserted:
                op = self.local_insert(origin, pos, inserted)
                if op is not None:
                    ops.append(op)
        return ops

    # --- remote operations -------------------------------------------------------------

    def apply(self, op: Any, origin: str, hlc: int) -> None:
        """Apply an op from any replica; idempotent; validates before changing anything."""
        self.checker()(op, origin, hlc)
        self.apply_checked(op, origin, hlc)

    def checker(self) -> TextChecker:
        """A validator for a sequence of ops to be applied in that order (see TextChecker)."""
        return TextChecker(self._next)

    def checker_seed(self) -> dict[str, int]:
        """All a checker needs of this state: each origin's next counter."""
        return self._next

    @staticmethod
    def seeded_checker(seed: dict[str, int]) -> TextChecker:
        """The checker of a document whose checker_seed() was `seed`, without it."""
        return TextChecker(seed)

    def apply_checked(self, op: Any, origin: str, hlc: int) -> None:
        """Apply an op that this document's checker accepted, in the order it checked it.

        The lean remote path: no re-validation, one index lookup per origin.
        """
        # A remote edit can land anywhere: forget the typing cursor (the next local edit
        # walks from the start once) so that no visible count below has to adjust it.
        self._cursor_block = self._cursor_prefix = 0
        self._hint_item = -1
        self._text_cache = None
        if op[0] == "i":
            _, counter, text, left, right = op
            if counter < self._next.get(origin, 0):
                return  # already applied (the checker proved it is a known id)
            self._next[origin] = counter + len(text)
            if (
                left is not None
                and right is not None
                and right[1] == left[1] + 1
                and right[0] == left[0]
                and self._insert_inside(origin, counter, text, left[0], left[1])
            ):
                return
            self._integrate(origin, counter, text, left, right)
        else:
            for range_origin, start, length in op[1]:
                self._delete_range(range_origin, start, length)

    def _insert_inside(self, origin: str, counter: int, text: str, lo: str, lc: int) -> bool:
        """Fast path of a remote insert typed between two adjacent characters of one run.

        When (lo, lc) and (lo, lc + 1) are still inside one item, nothing was ever
        integrated between them, so YATA's scan is empty: cut the item and put the run in
        the cut.  Returns False (nothing done) when they are not in one item.
        """
        starts, blks = self._runs[lo]
        k = bisect_right(starts, lc) - 1
        start = starts[k]
        blk = blks[k]
        i = blk.c.index(start)
        if blk.o[i] != lo:
            i = _index_of(blk, lo, start)
        offset = lc + 1 - start
        length = blk.n[i]
        if offset >= length:
            return False
        t = blk.t[i]
        n = len(text)
        j = i + 1
        # item i keeps its first `offset` characters; then the new run; then the tail
        blk.o[j:j] = (origin, lo)
        blk.c[j:j] = (counter, lc + 1)
        blk.n[j:j] = (n, length - offset)
        blk.t[j:j] = (text, None if t is None else t[offset:])
        blk.lo[j:j] = (lo, lo)
        blk.lc[j:j] = (lc, lc)
        blk.ro[j:j] = (lo, blk.ro[i])
        blk.rc[j:j] = (lc + 1, blk.rc[i])
        blk.n[i] = offset
        if t is not None:
            blk.t[i] = t[:offset]
        blk.visible += n
        self._length += n
        starts.insert(k + 1, lc + 1)  # the tail follows its head in the id index
        blks.insert(k + 1, blk)
        entry = self._runs.get(origin)
        if entry is not None and counter > entry[0][-1]:  # the usual case, inlined
            entry[0].append(counter)
            entry[1].append(blk)
        else:
            self._index_add(origin, counter, blk)
        if len(blk.o) > 2 * _BLOCK:
            self._rebalance(self._blocks.index(blk))
        return True

    def _delete_range(self, origin: str, start: int, length: int) -> None:
        end = start + length
        counter = start
        while counter < end:
            found = self._find(origin, counter)
            assert found is not None  # checked by TextChecker
            blk, i = found
            c = blk.c[i]
            if c < counter and self._hollow(blk, i, counter - c, end - counter):
                return
            if c < counter:
                self._split(blk, i, counter - c)
                i += 1
                c = counter
            k = blk.n[i]
            if c + k > end:
                self._split(blk, i, end - c)
                k = end - c
            counter = c + k
            if blk.t[i] is not None:
                blk.t[i] = None
                blk.visible -= k
                self._length -= k
                self._merge_tombstone(blk, i)
            if len(blk.o) > 2 * _BLOCK:
                self._rebalance(self._blocks.index(blk))

    def _hollow(self, blk: _Block, i: int, offset: int, length: int) -> bool:
        """Delete `length` characters from `offset` when they lie strictly inside visible
        item i: the item becomes its head, a tombstone and its tail in one move.  False,
        nothing done, otherwise.

        The same items, ids, neighbours and index as cutting twice (``_split``) and then
        deleting the middle, where no tombstone merge can happen (both neighbours are
        visible), for half the list moves: most deletions a peer's wiki save carries
        fall inside one typed run."""
        t = blk.t[i]
        n = blk.n[i]
        if t is None or offset + length >= n:
            return False
        o, c = blk.o[i], blk.c[i]
        start = c + offset
        end = start + length
        ro, rc = blk.ro[i], blk.rc[i]
        j = i + 1
        blk.o[j:j] = (o, o)
        blk.c[j:j] = (start, end)
        blk.n[j:j] = (length, n - offset - length)
        blk.t[j:j] = (None, t[offset + length :])
        blk.lo[j:j] = (o, o)
        blk.lc[j:j] = (start - 1, end - 1)
        blk.ro[j:j] = (ro, ro)
        blk.rc[j:j] = (rc, rc)
        blk.n[i] = offset
        blk.t[i] = t[:offset]
        blk.visible -= length
        self._length -= length
        starts, blks = self._runs[o]
        k = bisect_right(starts, c)  # right after the item's own entry
        starts[k:k] = (start, end)
        blks[k:k] = (blk, blk)
        if len(blk.o) > 2 * _BLOCK:
            self._rebalance(self._blocks.index(blk))
        return True

    def _delete_into_tombstone(self, blk: _Block, i: int, off: int, length: int) -> bool:
        """Delete `length` characters from `off` in visible item i when they end it and
        the next item is the rest of its run as a tombstone (backspacing into what was
        just deleted), or start it and the previous item is such a tombstone (deleting
        forwards): the tombstone grows over them (_move_cut).  False, nothing done,
        otherwise."""
        if off:
            if (
                off + length != blk.n[i]
                or i + 1 == len(blk.o)
                or blk.t[i + 1] is not None
                or not self._continues(blk, i)
            ):
                return False
            self._move_cut(blk, i, blk.c[i] + off)
        else:
            if length >= blk.n[i] or i == 0 or blk.t[i - 1] is not None:
                return False
            if not self._continues(blk, i - 1):
                return False
            self._move_cut(blk, i - 1, blk.c[i] + length)
        return True

    def _move_cut(self, blk: _Block, i: int, cut: int) -> None:
        """Items i and i + 1 are one run cut in two (``_continues``), one visible and one
        a tombstone: move the cut to id counter `cut`, so that the characters between the
        old cut and the new one pass from the visible item to the tombstone.

        What deleting them by cutting them off and merging the cut into the tombstone
        would leave (same items, ids, neighbours and index), without inserting an item
        and removing one: typing then backspacing or deleting forwards does that on
        almost every keystroke.  Item indexes do not move, so the cursor's hint stays
        valid."""
        j = i + 1
        old = blk.c[j]
        if blk.t[i] is None:  # deleting forwards: item j loses its first characters
            hidden = cut - old
            blk.t[j] = blk.t[j][hidden:]  # type: ignore[index]
        else:  # backspacing: item i loses its last characters
            hidden = old - cut
            blk.t[i] = blk.t[i][: cut - blk.c[i]]  # type: ignore[index]
        blk.n[i] = cut - blk.c[i]
        blk.n[j] -= cut - old
        blk.c[j] = cut
        blk.lc[j] = cut - 1  # j continues i: typed right after the character before it
        blk.visible -= hidden
        self._length -= hidden
        self._text_cache = None
        starts = self._runs[blk.o[j]][0]
        starts[bisect_left(starts, old)] = cut  # item j's index entry follows its start

    def _integrate(self, origin: str, counter: int, text: str, left: Any, right: Any) -> None:
        """Place a remote run between its origins, as YATA orders concurrent inserts."""
        lo: str | None = None
        lc = ro_c = _NO_COUNTER
        ro: str | None = None
        if left is not None:
            lo, lc = left[0], left[1]
            found = self._find(lo, lc)
            assert found is not None
            lb, li = found
            end = lc - lb.c[li] + 1
            if end < lb.n[li]:
                self._split(lb, li, end)
        if right is not None:
            ro, ro_c = right[0], right[1]
            found = self._find(ro, ro_c)
            assert found is not None
            rb, ri = found
            if rb.c[ri] < ro_c:
                self._split(rb, ri, ro_c - rb.c[ri])
                if left is not None and rb is lb and ri <= li:
                    li += 1  # the cut was at or before the left item, which moved up one
                ri += 1
        blocks = self._blocks
        if left is not None:
            bi, i = blocks.index(lb), li
            if right is not None and (ri <= li if rb is lb else blocks.index(rb) < bi):
                # A right origin at or before the left one: no editor types that, only a
                # broken or hostile origin signs it.  Scanning from the left origin for a
                # right one that is behind it would stop wherever the local item cuts
                # happen to fall, which differ between replicas, and they would diverge.
                # Two integrated items never swap, so "right is not after left" reads the
                # same everywhere: integrate it as typed before the document's end.
                ro, ro_c = None, _NO_COUNTER
        else:
            bi, i = 0, -1

        # YATA's scan over the items between the origins (Yjs, Item.integrate); items are
        # named by their first id, (origin, counter).
        conflicting: set[Id] = set()
        before_origin: set[Id] = set()
        obi, oi = bi, i + 1
        count = len(blocks)
        while True:
            while oi >= len(blocks[obi].o):
                obi += 1
                oi = 0
                if obi == count:
                    break
            if obi == count:
                break
            ob = blocks[obi]
            other_o, other_c = ob.o[oi], ob.c[oi]
            if other_c == ro_c and other_o == ro:
                break  # reached the right origin
            key = (other_o, other_c)
            before_origin.add(key)
            conflicting.add(key)
            other_lo, other_lc = ob.lo[oi], ob.lc[oi]
            if other_lc == lc and other_lo == lo:
                if other_o < origin:
                    bi, i = obi, oi
                    conflicting.clear()
                elif ob.rc[oi] == ro_c and ob.ro[oi] == ro:
                    break
            elif (
                other_lo is not None
                and (origin_key := self._key_of(other_lo, other_lc)) in before_origin
            ):
                if origin_key not in conflicting:
                    bi, i = obi, oi
                    conflicting.clear()
            else:
                break
            oi += 1

        n = len(text)
        blk = blocks[bi]
        blk.visible += n
        self._length += n
        if (
            i >= 0
            and blk.o[i] == origin
            and blk.c[i] + blk.n[i] == counter
            and lc == counter - 1
            and lo == origin
            and blk.t[i] is not None
            and blk.rc[i] == ro_c
            and blk.ro[i] == ro
        ):
            blk.t[i] += text  # type: ignore[operator]
            blk.n[i] += n
            return
        self._insert_item(blk, i + 1, origin, counter, n, text, lo, lc, ro, ro_c)
        if len(blk.o) > 2 * _BLOCK:
            self._rebalance(bi)

    # --- state -------------------------------------------------------------------------

    def encode_state(self) -> bytes:
        """Format 3: the item columns end to end (see ``_FORMAT``)."""
        o: list[str] = []
        c: list[int] = []
        n: list[int] = []
        t: list[str | None] = []
        lo: list[str | None] = []
        lc: list[int] = []
        ro: list[str | None] = []
        rc: list[int] = []
        for b in self._blocks:  # in-place concatenation: the cheapest way in CPython
            o += b.o
            c += b.c
            n += b.n
            t += b.t
            lo += b.lo
            lc += b.lc
            ro += b.ro
            rc += b.rc
        # tombstones as negative lengths, and the visible text as ONE string: packing and
        # unpacking a string per item was most of a state's cost (and its UTF-8 headers)
        lengths = [k if s is not None else -k for k, s in zip(n, t, strict=True)]
        text = "".join(filter(None, t))
        table = list(dict.fromkeys(o))  # every neighbour is an item too: tombstones stay
        if len(table) == 1:
            # a page written on one box: its neighbours' origins follow from their
            # counters (-1: none), so the three origin columns are left out
            state = [_FORMAT, table, None, c, lengths, text, None, lc, None, rc]
        else:
            index: dict[str | None, int] = {name: k for k, name in enumerate(table)}
            index[None] = -1
            number = index.__getitem__
            numbers, left, right = [*map(number, o)], [*map(number, lo)], [*map(number, ro)]
            state = [_FORMAT, table, numbers, c, lengths, text, left, lc, right, rc]
        return bytes(msgpack.packb(state, use_bin_type=True))

    @classmethod
    def decode_state(cls, data: bytes) -> Self:
        try:
            state = msgpack.unpackb(data, raw=False, use_list=True)
        except Exception as exc:  # msgpack raises several unrelated types
            raise MalformedInput(f"text state is not valid msgpack: {exc}") from None
        if not isinstance(state, list) or not state:
            raise MalformedInput("text state has an unknown format")
        if state[0] == _FORMAT and len(state) == 10:
            columns = _columns_from_format3(state[1], state[2:])
        elif state[0] == 2 and len(state) == 10:
            columns = _columns_from_format2(state[1], state[2:])
        elif state[0] == 1 and len(state) == 3:
            columns = _columns_from_rows(state[1], state[2])
        else:
            raise MalformedInput("text state has an unknown format")
        doc = cls()
        doc._load(columns)
        return doc

    def _load(self, columns: tuple[list[Any], ...]) -> None:
        """Fill an empty document with checked columns (o, c, n, t, lo, lc, ro, rc)."""
        o, c, n = columns[0], columns[1], columns[2]
        self._blocks = [
            _Block(*[column[k : k + _BLOCK] for column in columns])
            for k in range(0, len(columns[0]), _BLOCK)
        ] or [_empty_block()]
        # the id index: per origin, its items' first counters in order and their blocks
        where = list(chain.from_iterable([[b] * len(b.o) for b in self._blocks]))
        groups: dict[str, Any]
        if len(set(o)) == 1:
            groups = {o[0]: range(len(o))}  # a page written on one box
        else:
            groups = {}
            for i, origin in enumerate(o):
                groups.setdefault(origin, []).append(i)
        for origin, items in groups.items():
            order = sorted(items, key=c.__getitem__)
            starts = list(map(c.__getitem__, order))
            if len(set(starts)) != len(starts):
                raise MalformedInput("text state holds one id twice")
            self._runs[origin] = (starts, list(map(where.__getitem__, order)))
            self._next[origin] = max(map(add, starts, map(n.__getitem__, order)))
        self._length = sum(b.visible for b in self._blocks)
        self._text_cache = None

    # --- structure -------------------------------------------------------------------

    def _first_id(self, from_block: int = 0) -> Id | None:
        """The id of the first item at or after block ``from_block``."""
        blocks = self._blocks
        for bi in range(from_block, len(blocks)):  # only the first block may be empty
            blk = blocks[bi]
            if blk.o:
                return blk.o[0], blk.c[0]
        return None

    def _locate(self, pos: int) -> tuple[int, int, int]:
        """(block, item, offset) of the visible character at ``pos`` (0 <= pos < len)."""
        blocks = self._blocks
        bi, prefix = self._cursor_block, self._cursor_prefix
        if bi >= len(blocks):
            bi, prefix = 0, 0
        while pos < prefix:
            bi -= 1
            prefix -= blocks[bi].visible
        while prefix + blocks[bi].visible <= pos:
            prefix += blocks[bi].visible
            bi += 1
        offset = pos - prefix
        start = 0
        if bi == self._cursor_block and self._hint_item >= 0 and self._hint_prefix <= offset:
            start = self._hint_item
            offset -= self._hint_prefix
        self._cursor_block, self._cursor_prefix = bi, prefix
        blk = blocks[bi]
        texts, lengths = blk.t, blk.n
        for i in range(start, len(lengths)):
            if texts[i] is not None:
                k = lengths[i]
                if offset < k:
                    self._hint_item = i
                    self._hint_prefix = pos - prefix - offset
                    return bi, i, offset
                offset -= k
        raise AssertionError("block visible count is out of step with its items")

    def _insert_item(
        self,
        blk: _Block,
        i: int,
        o: str,
        c: int,
        n: int,
        t: str | None,
        lo: str | None,
        lc: int,
        ro: str | None,
        rc: int,
    ) -> None:
        """Put an item at index i of blk and in the id index (visible counts: caller's)."""
        blk.o.insert(i, o)
        blk.c.insert(i, c)
        blk.n.insert(i, n)
        blk.t.insert(i, t)
        blk.lo.insert(i, lo)
        blk.lc.insert(i, lc)
        blk.ro.insert(i, ro)
        blk.rc.insert(i, rc)
        self._index_add(o, c, blk)

    def _split(self, blk: _Block, i: int, offset: int) -> None:
        """Cut item i of blk so that its first ``offset`` characters stay in it; the tail
        becomes item i + 1 of the same block.  Never rebalances: the caller's indexes stay
        valid, and the caller rebalances once it is done with them."""
        o, c, t = blk.o[i], blk.c[i], blk.t[i]
        cut = c + offset
        j = i + 1
        blk.o.insert(j, o)
        blk.c.insert(j, cut)
        blk.n.insert(j, blk.n[i] - offset)
        blk.t.insert(j, None if t is None else t[offset:])
        blk.lo.insert(j, o)
        blk.lc.insert(j, cut - 1)
        blk.ro.insert(j, blk.ro[i])
        blk.rc.insert(j, blk.rc[i])
        blk.n[i] = offset
        if t is not None:
            blk.t[i] = t[:offset]
        starts, blks = self._runs[o]
        k = bisect_right(starts, c)  # right after the head's entry
        starts.insert(k, cut)
        blks.insert(k, blk)

    def _rebalance(self, bi: int) -> None:
        """Split an overfull block in two, and point the moved items' index entries at
        the new block."""
        half = self._blocks[bi].cut(_BLOCK)
        if bi == self._cursor_block:
            self._hint_item = -1  # the hinted item may be in the moved half
        self._blocks.insert(bi + 1, half)
        if bi < self._cursor_block:
            self._cursor_block += 1
        runs = self._runs
        for origin, counter in zip(half.o, half.c, strict=True):
            starts, blks = runs[origin]
            blks[bisect_left(starts, counter)] = half

    def _merge_tombstone(self, blk: _Block, i: int) -> int:
        """Fold a tombstone into its tombstone neighbours when they are one run again.

        Returns the index of the surviving item.  Backspacing deletes leftwards, so the
        neighbour to merge with is as often the next item as the previous one.
        """
        if i + 1 < len(blk.o) and self._tombstones_join(blk, i):
            self._absorb(blk, i)
        if i > 0 and self._tombstones_join(blk, i - 1):
            self._absorb(blk, i - 1)
            return i - 1
        return i

    @staticmethod
    def _tombstones_join(blk: _Block, i: int) -> bool:
        """Items i and i + 1 are tombstones of one run, cut apart earlier."""
        return blk.t[i] is None and blk.t[i + 1] is None and TextDoc._continues(blk, i)

    @staticmethod
    def _continues(blk: _Block, i: int) -> bool:
        """Item i + 1 is the rest of item i's run, cut apart earlier: same origin, the
        next ids, typed right after item i's last character and before the same one."""
        j = i + 1
        return (
            blk.o[i] == blk.o[j]
            and blk.c[i] + blk.n[i] == blk.c[j]
            and blk.lc[j] == blk.c[j] - 1
            and blk.lo[j] == blk.o[i]
            and blk.rc[i] == blk.rc[j]
            and blk.ro[i] == blk.ro[j]
        )

    def _absorb(self, blk: _Block, i: int) -> None:
        """Merge item i + 1 into item i (both tombstones of one run)."""
        j = i + 1
        origin, counter = blk.o[j], blk.c[j]
        blk.n[i] += blk.n[j]
        blk.remove(j)
        starts, blks = self._runs[origin]
        k = bisect_left(starts, counter)
        del starts[k], blks[k]

    def _index_add(self, origin: str, counter: int, blk: _Block) -> None:
        entry = self._runs.get(origin)
        if entry is None:
            self._runs[origin] = ([counter], [blk])
            return
        starts, blks = entry
        if counter > starts[-1]:
            starts.append(counter)
            blks.append(blk)
        else:
            k = bisect_right(starts, counter)
            starts.insert(k, counter)
            blks.insert(k, blk)

    def _find(self, origin: str, counter: int) -> tuple[_Block, int] | None:
        """(block, index) of the item holding id (origin, counter), or None."""
        entry = self._runs.get(origin)
        if entry is None:
            return None
        starts, blks = entry
        k = bisect_right(starts, counter) - 1
        if k < 0:
            return None
        start = starts[k]
        blk = blks[k]
        i = _index_of(blk, origin, start)
        return (blk, i) if counter < start + blk.n[i] else None

    def _key_of(self, origin: str, counter: int) -> Id | None:
        """The first id of the item holding (origin, counter): how the scan names items."""
        found = self._find(origin, counter)
        if found is None:
            return None
        blk, i = found
        return blk.o[i], blk.c[i]


def _index_of(blk: _Block, origin: str, start: int) -> int:
    """Index in blk of the item whose first id is (origin, start) (it must be there)."""
    counters, origins = blk.c, blk.o
    i = counters.index(start)
    while origins[i] != origin:  # another origin's run may start at the same counter
        i = counters.index(start, i + 1)
    return i


def _columns_from_rows(origins: Any, rows: Any) -> tuple[list[Any], ...]:
    """Format 1 (rows of [origin, counter, length, content, left, right]) as columns."""
    if not isinstance(origins, list) or not isinstance(rows, list):
        raise MalformedInput("text state has an unknown format")
    if len(rows) % 6 or not all(isinstance(o, str) for o in origins):
        raise MalformedInput("text state rows are malformed")
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    o, c, n, t, lo, lc, ro, rc = columns
    try:
        for k in range(0, len(rows), 6):
            origin, counter, length, content, left, right = rows[k : k + 6]
            o.append(origins[origin])
            c.append(counter)
            n.append(length)
            t.append(content)
            lo.append(None if left is None else origins[left[0]])
            lc.append(_NO_COUNTER if left is None else left[1])
            ro.append(None if right is None else origins[right[0]])
            rc.append(_NO_COUNTER if right is None else right[1])
    except (IndexError, TypeError, KeyError) as exc:
        raise MalformedInput(f"text state is malformed: {exc}") from None
    _check_columns(columns)
    return columns


def _columns_from_format3(origins: Any, raw: list[Any]) -> tuple[list[Any], ...]:
    numbers, c, signed, text, left, lc, right, rc = raw
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise MalformedInput("text state origins are malformed")
    if not isinstance(text, str) or not all(
        isinstance(column, list) for column in (c, signed, lc, rc)
    ):
        raise MalformedInput("text state columns are malformed")
    count = len(c)
    if len(signed) != count or len(lc) != count or len(rc) != count:
        raise MalformedInput("text state columns differ in length")
    if signed and (not _ints_within(signed, -(2**63), 2**63) or 0 in signed):
        raise MalformedInput("text state lengths are malformed")
    n = list(map(abs, signed))
    # item k's text is the next n[k] characters of `text`; a tombstone takes none
    ends = list(accumulate([k if k > 0 else 0 for k in signed]))
    if (ends[-1] if ends else 0) != len(text):
        raise MalformedInput("text state content does not match its length")
    t: list[str | None] = [
        text[a:b] if a != b else None for a, b in zip([0, *ends], ends, strict=False)
    ]
    if numbers is None and left is None and right is None and len(origins) == 1:
        only = origins[0]
        o: list[Any] = [only] * count
        lo: list[Any] = [None if k == _NO_COUNTER else only for k in lc]
        ro: list[Any] = [None if k == _NO_COUNTER else only for k in rc]
    else:
        if not all(
            isinstance(column, list) and len(column) == count for column in (numbers, left, right)
        ):
            raise MalformedInput("text state origin columns are malformed")
        o, lo, ro = _named(origins, numbers, left, right)
    columns = (o, c, n, t, lo, lc, ro, rc)
    _check_columns(columns, texts_checked=True)
    return columns


def _columns_from_format2(origins: Any, raw: list[Any]) -> tuple[list[Any], ...]:
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise MalformedInput("text state origins are malformed")
    if not all(isinstance(column, list) for column in raw):
        raise MalformedInput("text state columns are malformed")
    o, c, n, t, lo, lc, ro, rc = raw
    if len({len(column) for column in raw}) != 1:
        raise MalformedInput("text state columns differ in length")
    names, left, right = _named(origins, o, lo, ro)
    columns = (names, c, n, t, left, lc, right, rc)
    _check_columns(columns)
    return columns


def _named(
    origins: list[str], numbers: list[Any], left: list[Any], right: list[Any]
) -> tuple[list[Any], list[Any], list[Any]]:
    """The origin columns of a stored state, from indexes into `origins` (-1: none)."""
    for indexes, allow_none in ((numbers, False), (left, True), (right, True)):
        if indexes and not _ints_within(indexes, -1 if allow_none else 0, len(origins) - 1):
            raise MalformedInput("text state origin index out of its table")
    name = [*origins, None].__getitem__  # index -1: no neighbour
    return list(map(name, numbers)), list(map(name, left)), list(map(name, right))


def _ints_within(values: list[Any], low: int, high: int) -> bool:
    return set(map(type, values)) == {int} and low <= min(values) and max(values) <= high


def _check_columns(columns: tuple[list[Any], ...], *, texts_checked: bool = False) -> None:
    """What decoding a stored state must refuse before it becomes a document.

    `texts_checked`: the texts were cut from one string by the lengths (format 3), so
    they match their lengths by construction."""
    o, c, n, t, lo, lc, ro, rc = columns
    if not o:
        return
    if not _ints_within(c, 0, 2**63) or not _ints_within(n, 1, 2**63):
        raise MalformedInput("text state counters are malformed")
    if not _ints_within(lc, _NO_COUNTER, 2**63) or not _ints_within(rc, _NO_COUNTER, 2**63):
        raise MalformedInput("text state neighbour counters are malformed")
    # list comprehensions, not a loop with branches: a box loads thousands of states
    if not texts_checked and (
        not set(map(type, t)) <= {str, type(None)}
        or [len(s) for s in t if s is not None]
        != [k for s, k in zip(t, n, strict=True) if s is not None]
    ):
        raise MalformedInput("text state content does not match its length")
    for neighbours, counters in ((lo, lc), (ro, rc)):
        if [x is None for x in neighbours] != [k == _NO_COUNTER for k in counters]:
            raise MalformedInput("text state neighbour ids are malformed")


class TextChecker:
    """Validates text ops in application order without touching the document.

    A remote batch is checked whole before any op is applied, so a bad op in the middle
    of a batch costs no rollback (and no O(document) snapshot of every touched document).
    Counters are contiguous per origin (an insert starts exactly at its origin's next
    counter, PROTOCOL.md section 8), so an id is known iff its counter is below that next
    counter, as applied or as staged by an op checked earlier: O(1) per reference.
    """

    __slots__ = ("applied", "next")

    def __init__(self, applied: dict[str, int]) -> None:
        self.applied = applied  # origin -> next counter of the document (not changed here)
        self.next: dict[str, int] = {}  # origin -> next counter once checked ops applied

    def _limit(self, origin: str) -> int:
        staged = self.next.get(origin)
        return self.applied.get(origin, 0) if staged is None else staged

    def __call__(self, op: Any, origin: str, hlc: int) -> None:
        if not isinstance(op, list | tuple) or not op:
            raise MalformedOp("a text op is a non-empty array")
        kind = op[0]
        if kind == "i":
            self._insert(op, origin)
        elif kind == "d":
            self._delete(op)
        else:
            raise MalformedOp(f"unknown text op kind {kind!r}")

    def _insert(self, op: Any, origin: str) -> None:
        if len(op) != 5:
            raise MalformedOp("a text insert has 5 fields")
        _, counter, text, left, right = op
        if type(counter) is not int or counter < 0:
            raise MalformedOp("a text insert's counter is a non-negative integer")
        if type(text) is not str or not text:
            raise MalformedOp("a text insert carries a non-empty string")
        if type(origin) is not str:
            raise MalformedOp("origin must be a string")
        staged = self.next
        limit = staged.get(origin)
        if limit is None:
            limit = self.applied.get(origin, 0)
        if counter != limit:
            if counter < limit:
                if counter + len(text) > limit:
                    raise MalformedOp(f"counter {counter} of {origin[:8]} overlaps an existing run")
                return  # already applied or staged: the op is an idempotent no-op
            raise MalformedOp(f"counter {counter} of {origin[:8]} skips {limit}..{counter - 1}")
        # the two references, inlined: this runs once per remote insert
        for ref, what in ((left, "left origin"), (right, "right origin")):
            if ref is None:
                continue
            if (
                type(ref) is not list
                or len(ref) != 2
                or type(ref_origin := ref[0]) is not str
                or type(ref_counter := ref[1]) is not int
                or ref_counter < 0
            ):
                _check_id(ref, what)  # raises the precise error (or accepts a tuple)
                ref_origin, ref_counter = ref
            known = staged.get(ref_origin)
            if known is None:
                known = self.applied.get(ref_origin, 0)
            if ref_counter >= known:
                raise MalformedOp(
                    f"text insert refers to unknown character {ref_origin[:8]}:{ref_counter}"
                )
        staged[origin] = counter + len(text)

    def _delete(self, op: Any) -> None:
        if len(op) != 2 or not isinstance(op[1], list | tuple):
            raise MalformedOp("a text delete is ['d', [[origin, start, length], ...]]")
        for entry in op[1]:
            if (
                not isinstance(entry, list | tuple)
                or len(entry) != 3
                or not isinstance(entry[0], str)
                or type(entry[1]) is not int
                or type(entry[2]) is not int
                or entry[1] < 0
                or entry[2] < 1
            ):
                raise MalformedOp("a deleted range is [origin, start, length >= 1]")
            if entry[1] + entry[2] > self._limit(entry[0]):
                raise MalformedOp(f"text delete names unknown characters of {entry[0][:8]}")
