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
- deleted runs keep only their id range and length (``content is None``), and adjacent
  tombstones merge again, so deleting a paragraph leaves one small item;
- items live in blocks of at most ``_BLOCK`` items with a cached visible length per
  block, and a cursor remembers the last block used, so locating a position costs a
  few steps while someone types, whatever the document's size.

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

from bisect import bisect_right
from typing import Any, ClassVar, Self

import msgpack

from sync.errors import MalformedInput, MalformedOp
from sync.textdiff import diff_patches

Id = tuple[str, int]

_BLOCK = 16  # items per block before it splits in two
_FORMAT = 1


class PositionError(ValueError):
    """A local edit names a position outside the text."""


class _Item:
    __slots__ = ("block", "content", "counter", "left_id", "length", "origin", "right_id")

    def __init__(
        self,
        origin: str,
        counter: int,
        length: int,
        content: str | None,
        left_id: Id | None,
        right_id: Id | None,
    ) -> None:
        self.origin = origin
        self.counter = counter
        self.length = length
        self.content = content  # None: a tombstone
        self.left_id = left_id
        self.right_id = right_id
        self.block: _Block | None = None


class _Block:
    __slots__ = ("items", "visible")

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.visible = 0
        for item in items:
            item.block = self
            if item.content is not None:
                self.visible += item.length


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
        self._blocks: list[_Block] = [_Block([])]
        # origin -> (sorted run starts, items): finds the item holding any id.
        self._runs: dict[str, tuple[list[int], list[_Item]]] = {}
        self._next: dict[str, int] = {}  # origin -> first unused counter
        self._length = 0
        self._cursor_block = 0
        self._cursor_prefix = 0  # visible characters before the cursor block
        self._text_cache: str | None = ""

    # --- reading ---------------------------------------------------------------------

    def value(self) -> str:
        if self._text_cache is None:
            self._text_cache = "".join(
                [i.content for b in self._blocks for i in b.items if i.content is not None]
            )
        return self._text_cache

    def __len__(self) -> int:
        return self._length

    def item_count(self) -> int:
        return sum(len(b.items) for b in self._blocks)

    # --- local edits -------------------------------------------------------------------

    def local_insert(self, origin: str, pos: int, text: str) -> list[Any] | None:
        """Insert ``text`` at code-point ``pos``; returns the op to send (None if empty)."""
        if not text:
            return None
        if type(pos) is not int or not 0 <= pos <= self._length:
            raise PositionError(f"insert position {pos} outside 0..{self._length}")
        counter = self._next.get(origin, 0)
        n = len(text)
        if pos == 0:
            bi, ii, left = 0, -1, None
            right = self._first_item()
        else:
            bi, ii, off = self._locate(pos - 1)
            left = self._blocks[bi].items[ii]
            if off < left.length - 1:
                self._split(bi, ii, off + 1)
                bi, ii = self._where(left)  # a split may have split the block too
            right = self._successor(bi, ii)
        left_id = (left.origin, left.counter + left.length - 1) if left is not None else None
        right_id = (right.origin, right.counter) if right is not None else None
        op: list[Any] = [
            "i",
            counter,
            text,
            list(left_id) if left_id else None,
            list(right_id) if right_id else None,
        ]
        if (
            left is not None
            and left.origin == origin
            and left.content is not None
            and left.counter + left.length == counter
            and left.right_id == right_id
        ):
            # Typing on at the end of one's own run: the run grows, no new item.
            left.content += text
            left.length += n
            self._grew(bi, n)
        else:
            item = _Item(origin, counter, n, text, left_id, right_id)
            self._place(bi, ii + 1, item)
            self._index_add(item)
        self._next[origin] = counter + n
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
        bi, ii, off = self._locate(pos)
        if off:
            bi, ii = self._where(self._split(bi, ii, off))
        remaining = length
        while remaining:
            block = self._blocks[bi]
            if ii >= len(block.items):
                bi, ii = bi + 1, 0
                continue
            item = block.items[ii]
            if item.content is not None:
                if item.length > remaining:
                    self._split(bi, ii, remaining)
                    bi, ii = self._where(item)
                self._kill(item)
                remaining -= item.length
                last = ranges[-1] if ranges else None
                if last and last[0] == item.origin and last[1] + last[2] == item.counter:
                    last[2] += item.length
                else:
                    ranges.append([item.origin, item.counter, item.length])
                ii = self._merge_tombstone(bi, ii)
            ii += 1
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
        return TextChecker(self)

    def apply_checked(self, op: Any, origin: str, hlc: int) -> None:
        """Apply an op that this document's checker accepted, in the order it checked it.

        The lean remote path: no re-validation, one index lookup per origin.
        """
        if op[0] == "i":
            _, counter, text, left, right = op
            if counter < self._next.get(origin, 0):
                return  # already applied (the checker proved it is a known id)
            n = len(text)
            if (
                left is not None
                and right is not None
                and right[1] == left[1] + 1
                and right[0] == left[0]
                and self._insert_inside(origin, counter, text, left[0], left[1])
            ):
                self._next[origin] = counter + n
                return
            self._integrate(
                _Item(
                    origin,
                    counter,
                    n,
                    text,
                    None if left is None else (left[0], left[1]),
                    None if right is None else (right[0], right[1]),
                )
            )
            self._next[origin] = counter + n
        else:
            for range_origin, start, length in op[1]:
                self._delete_range(range_origin, start, length)

    def _insert_inside(self, origin: str, counter: int, text: str, lo: str, lc: int) -> bool:
        """Fast path of a remote insert typed between two adjacent characters of one run.

        When (lo, lc) and (lo, lc + 1) are still inside one item, nothing was ever
        integrated between them, so YATA's scan is empty: cut the item and put the run in
        the cut.  Returns False (nothing done) when they are not in one item.
        """
        starts, runs = self._runs[lo]
        k = bisect_right(starts, lc) - 1
        item = runs[k]
        offset = lc + 1 - item.counter
        if offset >= item.length:
            return False
        content = item.content
        left_id = (lo, lc)
        tail = _Item(
            lo,
            lc + 1,
            item.length - offset,
            None if content is None else content[offset:],
            left_id,
            item.right_id,
        )
        item.length = offset
        if content is not None:
            item.content = content[:offset]
        n = len(text)
        new = _Item(origin, counter, n, text, left_id, (lo, lc + 1))
        block = item.block
        assert block is not None
        items = block.items
        ii = items.index(item)
        items[ii + 1 : ii + 1] = (new, tail)
        new.block = tail.block = block
        block.visible += n
        self._length += n
        self._text_cache = None
        # a remote edit can land anywhere: forget the typing cursor rather than find the
        # block's index to keep it exact (the next local edit walks from the start once)
        self._cursor_block = self._cursor_prefix = 0
        if len(items) > 2 * _BLOCK:
            self._rebalance(self._blocks.index(block))
        starts.insert(k + 1, lc + 1)  # the tail follows its head in the id index
        runs.insert(k + 1, tail)
        self._index_add(new)
        return True

    def size_hint(self) -> int:
        """Items held (tombstones included): what encode_state costs, in rough units."""
        return len(self._blocks) * _BLOCK

    def _delete_range(self, origin: str, start: int, length: int) -> None:
        end = start + length
        counter = start
        while counter < end:
            item = self._find(origin, counter)
            assert item is not None  # checked by TextChecker
            bi, ii = self._where(item)
            if item.counter < counter:
                item = self._split(bi, ii, counter - item.counter)
                bi, ii = self._where(item)
            if item.counter + item.length > end:
                self._split(bi, ii, end - item.counter)
                bi, ii = self._where(item)
            counter = item.counter + item.length
            if item.content is not None:
                self._kill(item)
                self._merge_tombstone(bi, ii)

    def _integrate(self, item: _Item) -> None:
        """Place a remote run between its origins, as YATA orders concurrent inserts."""
        left: _Item | None = None
        if item.left_id is not None:
            left = self._find(*item.left_id)
            assert left is not None
            end = item.left_id[1] - left.counter + 1
            if end < left.length:
                self._split(*self._where(left), end)
        right: _Item | None = None
        if item.right_id is not None:
            right = self._find(*item.right_id)
            assert right is not None
            if right.counter < item.right_id[1]:
                right = self._split(*self._where(right), item.right_id[1] - right.counter)
        bi, ii = self._where(left) if left is not None else (0, -1)

        # YATA's scan over the items between the origins (Yjs, Item.integrate).
        conflicting: set[int] = set()
        before_origin: set[int] = set()
        obi, oii = self._next_pos(bi, ii)
        while obi >= 0:
            other = self._blocks[obi].items[oii]
            if other is right:
                break
            before_origin.add(id(other))
            conflicting.add(id(other))
            if other.left_id == item.left_id:
                if other.origin < item.origin:
                    bi, ii = obi, oii
                    conflicting.clear()
                elif other.right_id == item.right_id:
                    break
            elif (
                other.left_id is not None
                and (origin_key := id(self._find(*other.left_id))) in before_origin
            ):
                if origin_key not in conflicting:
                    bi, ii = obi, oii
                    conflicting.clear()
            else:
                break
            obi, oii = self._next_pos(obi, oii)

        left_item = self._blocks[bi].items[ii] if ii >= 0 else None
        if (
            left_item is not None
            and left_item.origin == item.origin
            and left_item.content is not None
            and left_item.counter + left_item.length == item.counter
            and item.left_id == (left_item.origin, item.counter - 1)
            and left_item.right_id == item.right_id
        ):
            assert item.content is not None
            left_item.content += item.content
            left_item.length += item.length
            self._grew(bi, item.length)
            return
        self._place(bi, ii + 1, item)
        self._index_add(item)

    # --- state -------------------------------------------------------------------------

    def encode_state(self) -> bytes:
        origins: dict[str, int] = {}
        rows: list[Any] = []
        for block in self._blocks:
            for it in block.items:
                rows.extend(
                    (
                        origins.setdefault(it.origin, len(origins)),
                        it.counter,
                        it.length,
                        it.content,
                        None if it.left_id is None
                        else [origins.setdefault(it.left_id[0], len(origins)), it.left_id[1]],
                        None if it.right_id is None
                        else [origins.setdefault(it.right_id[0], len(origins)), it.right_id[1]],
                    )
                )  # fmt: skip
        return bytes(msgpack.packb([_FORMAT, list(origins), rows], use_bin_type=True))

    @classmethod
    def decode_state(cls, data: bytes) -> Self:
        try:
            fmt, origins, rows = msgpack.unpackb(data, raw=False, use_list=True)
        except Exception as exc:  # msgpack raises several unrelated types
            raise MalformedInput(f"text state is not valid msgpack: {exc}") from None
        if fmt != _FORMAT or not isinstance(origins, list) or not isinstance(rows, list):
            raise MalformedInput("text state has an unknown format")
        if len(rows) % 6 or not all(isinstance(o, str) for o in origins):
            raise MalformedInput("text state rows are malformed")
        doc = cls()
        items: list[_Item] = []
        try:
            for k in range(0, len(rows), 6):
                o, counter, length, content, left, right = rows[k : k + 6]
                if content is not None and (not isinstance(content, str) or len(content) != length):
                    raise MalformedInput("text state content does not match its length")
                if type(counter) is not int or type(length) is not int or length < 1:
                    raise MalformedInput("text state counters are malformed")
                items.append(
                    _Item(
                        origins[o],
                        counter,
                        length,
                        content,
                        None if left is None else (origins[left[0]], int(left[1])),
                        None if right is None else (origins[right[0]], int(right[1])),
                    )
                )
        except (IndexError, TypeError, ValueError) as exc:
            raise MalformedInput(f"text state is malformed: {exc}") from None
        doc._blocks = [_Block(items[k : k + _BLOCK]) for k in range(0, len(items), _BLOCK)] or [
            _Block([])
        ]
        for item in items:
            doc._index_add(item)
            end = item.counter + item.length
            if end > doc._next.get(item.origin, 0):
                doc._next[item.origin] = end
        doc._length = sum(b.visible for b in doc._blocks)
        doc._text_cache = None
        return doc

    # --- structure -------------------------------------------------------------------

    def _first_item(self) -> _Item | None:
        for block in self._blocks:
            if block.items:
                return block.items[0]
        return None

    def _successor(self, bi: int, ii: int) -> _Item | None:
        nbi, nii = self._next_pos(bi, ii)
        return self._blocks[nbi].items[nii] if nbi >= 0 else None

    def _next_pos(self, bi: int, ii: int) -> tuple[int, int]:
        """The position after (bi, ii), skipping empty blocks; (-1, -1) at the end."""
        ii += 1
        blocks = self._blocks
        while bi < len(blocks):
            if ii < len(blocks[bi].items):
                return bi, ii
            bi, ii = bi + 1, 0
        return -1, -1

    def _where(self, item: _Item) -> tuple[int, int]:
        block = item.block
        assert block is not None
        # Identity scans in C over a few hundred blocks and at most 2 * _BLOCK items.
        return self._blocks.index(block), block.items.index(item)

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
        self._cursor_block, self._cursor_prefix = bi, prefix
        offset = pos - prefix
        for ii, item in enumerate(blocks[bi].items):
            if item.content is not None:
                if offset < item.length:
                    return bi, ii, offset
                offset -= item.length
        raise AssertionError("block visible count is out of step with its items")

    def _split(self, bi: int, ii: int, offset: int) -> _Item:
        """Cut item (bi, ii) so that its first ``offset`` characters stay in it.

        Returns the new tail.  Positions after the cut may move to another block.
        """
        item = self._blocks[bi].items[ii]
        tail = _Item(
            item.origin,
            item.counter + offset,
            item.length - offset,
            None if item.content is None else item.content[offset:],
            (item.origin, item.counter + offset - 1),
            item.right_id,
        )
        item.length = offset
        if item.content is not None:
            item.content = item.content[:offset]
        self._place(bi, ii + 1, tail, counts=False)
        self._index_add(tail)
        return tail

    def _place(self, bi: int, ii: int, item: _Item, counts: bool = True) -> None:
        block = self._blocks[bi]
        block.items.insert(ii, item)
        item.block = block
        if counts and item.content is not None:
            self._grew(bi, item.length)
        if len(block.items) > 2 * _BLOCK:
            self._rebalance(bi)

    def _rebalance(self, bi: int) -> None:
        """Split an overfull block in two."""
        block = self._blocks[bi]
        half = _Block(block.items[_BLOCK:])
        del block.items[_BLOCK:]
        block.visible -= half.visible
        self._blocks.insert(bi + 1, half)
        if bi < self._cursor_block:
            self._cursor_block += 1

    def _grew(self, bi: int, delta: int) -> None:
        self._blocks[bi].visible += delta
        self._length += delta
        if bi < self._cursor_block:
            self._cursor_prefix += delta
        self._text_cache = None

    def _kill(self, item: _Item) -> None:
        assert item.block is not None
        item.content = None
        self._grew(self._blocks.index(item.block), -item.length)

    def _merge_tombstone(self, bi: int, ii: int) -> int:
        """Fold a tombstone into its tombstone neighbours when they are one run again.

        Returns the index of the surviving item.  Backspacing deletes leftwards, so the
        neighbour to merge with is as often the next item as the previous one.
        """
        items = self._blocks[bi].items
        if ii + 1 < len(items) and self._tombstones_join(items[ii], items[ii + 1]):
            self._absorb(items, ii)
        if ii > 0 and self._tombstones_join(items[ii - 1], items[ii]):
            self._absorb(items, ii - 1)
            return ii - 1
        return ii

    @staticmethod
    def _tombstones_join(first: _Item, second: _Item) -> bool:
        return (
            first.content is None
            and second.content is None
            and first.origin == second.origin
            and first.counter + first.length == second.counter
            and second.left_id == (first.origin, second.counter - 1)
            and first.right_id == second.right_id
        )

    def _absorb(self, items: list[_Item], ii: int) -> None:
        """Merge items[ii + 1] into items[ii] (both tombstones of one run)."""
        second = items.pop(ii + 1)
        items[ii].length += second.length
        starts, runs = self._runs[second.origin]
        k = bisect_right(starts, second.counter) - 1
        del starts[k], runs[k]

    def _index_add(self, item: _Item) -> None:
        entry = self._runs.get(item.origin)
        if entry is None:
            self._runs[item.origin] = ([item.counter], [item])
            return
        starts, runs = entry
        if not starts or item.counter > starts[-1]:
            starts.append(item.counter)
            runs.append(item)
        else:
            k = bisect_right(starts, item.counter)
            starts.insert(k, item.counter)
            runs.insert(k, item)

    def _find(self, origin: str, counter: int) -> _Item | None:
        entry = self._runs.get(origin)
        if entry is None:
            return None
        starts, runs = entry
        k = bisect_right(starts, counter) - 1
        if k < 0:
            return None
        item = runs[k]
        return item if counter < item.counter + item.length else None


class TextChecker:
    """Validates text ops in application order without touching the document.

    A remote batch is checked whole before any op is applied, so a bad op in the middle
    of a batch costs no rollback (and no O(document) snapshot of every touched document).
    Counters are contiguous per origin (an insert starts exactly at its origin's next
    counter, PROTOCOL.md section 8), so an id is known iff its counter is below that next
    counter, as applied or as staged by an op checked earlier: O(1) per reference.
    """

    __slots__ = ("applied", "next")

    def __init__(self, doc: TextDoc) -> None:
        self.applied = doc._next
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
        _, counter, text, raw_left, raw_right = op
        if type(counter) is not int or counter < 0:
            raise MalformedOp("a text insert's counter is a non-negative integer")
        if not isinstance(text, str) or not text:
            raise MalformedOp("a text insert carries a non-empty string")
        if not isinstance(origin, str):
            raise MalformedOp("origin must be a string")
        limit = self._limit(origin)
        if counter < limit:
            if counter + len(text) > limit:
                raise MalformedOp(f"counter {counter} of {origin[:8]} overlaps an existing run")
            return  # already applied or staged: the op is an idempotent no-op
        if counter != limit:
            raise MalformedOp(f"counter {counter} of {origin[:8]} skips {limit}..{counter - 1}")
        for raw, what in ((raw_left, "left origin"), (raw_right, "right origin")):
            ref = _check_id(raw, what)
            if ref is not None and ref[1] >= self._limit(ref[0]):
                raise MalformedOp(f"text insert refers to unknown character {ref[0][:8]}:{ref[1]}")
        self.next[origin] = counter + len(text)

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
