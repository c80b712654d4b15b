"""Column-wise encoding of the operations of a segment (the `ops` part of a segment body).

Operations are opaque msgpack values owned by the document types, but a keystroke history
is millions of *similar* values: the same shape (say ``["i", [origin, clock], "x"]``) with a
counter that grows by one and an origin that repeats.  Written row after row, zlib sees
noise; written column by column, with integers as differences from the previous value of
their column and repeated strings as indexes into a table, the columns are almost constant
and compress to a fraction of a byte per operation.

Shape signature grammar: ``[`` … ``]`` an array, ``i`` an int, ``s`` a str, ``v`` any other
value (map, float, bool, nil, bin).  Per shape and per leaf slot, a column is one of
``[0, values]`` (as is), ``[1, deltas]`` (ints: v_k - v_{k-1}, v_{-1} = 0) or
``[2, table, deltas]`` (str: indexes into `table`, delta-coded).  See PROTOCOL.md.

Encoding and decoding compile one small function per shape, so the per-operation cost is a
single call; the column work runs in C (zip, itertools.accumulate, list comprehensions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from itertools import accumulate
from operator import sub
from typing import Any

from sync.errors import MalformedInput

__all__ = ["OpColumns", "decode_ops", "differences", "encode_ops", "shape_of"]

RAW, DELTA, TABLE = 0, 1, 2
MAX_SHAPE = 256  # characters in a signature: a bound on decoder work per shape


def shape_of(value: Any, leaves: list[Any]) -> str:
    kind = type(value)
    if kind is int:
        leaves.append(value)
        return "i"
    if kind is str:
        leaves.append(value)
        return "s"
    if kind is list or kind is tuple:
        return "[" + "".join(shape_of(item, leaves) for item in value) + "]"
    leaves.append(value)
    return "v"


def _builder_source(signature: str) -> tuple[str, int]:
    """Python expression rebuilding a value from leaves a0..an, and n."""
    out: list[str] = []
    count = 0
    for ch in signature:
        if ch == "[":
            out.append("[")
        elif ch == "]":
            if out[-1] == ",":
                out.pop()
            out.append("],")
        elif ch in "isv":
            out.append(f"a{count},")
            count += 1
        else:
            raise MalformedInput(f"bad character {ch!r} in an op shape")
    source = "".join(out).rstrip(",")
    return source, count


_BUILDERS: dict[str, tuple[Callable[..., Any], int]] = {}


def _builder(signature: str) -> tuple[Callable[..., Any], int]:
    cached = _BUILDERS.get(signature)
    if cached is not None:
        return cached
    if not signature or len(signature) > MAX_SHAPE:
        raise MalformedInput("op shape signature empty or too long")
    depth = 0
    for i, ch in enumerate(signature):
        depth += (ch == "[") - (ch == "]")
        if depth < 0 or (depth == 0 and i != len(signature) - 1):
            raise MalformedInput(f"unbalanced op shape {signature!r}")
    if depth != 0:
        raise MalformedInput(f"unbalanced op shape {signature!r}")
    source, count = _builder_source(signature)
    args = ",".join(f"a{i}" for i in range(count))
    # the signature was validated to contain only [ ] i s v, so the generated source is
    # made of list brackets, commas and argument names: nothing else can reach eval
    function = eval(f"lambda {args}: {source}", {"__builtins__": {}})  # noqa: S307
    if len(_BUILDERS) < 4096:
        _BUILDERS[signature] = (function, count)
    return function, count


_ARRAYS = (list, tuple)
_NOT_LEAF = (int, str, list, tuple)
_FLATTENERS: dict[str, Callable[[Any], tuple[Any, ...] | None]] = {}


def _flattener(signature: str) -> Callable[[Any], tuple[Any, ...] | None]:
    """A compiled function returning the leaves of a value of exactly this shape, else None.

    Typing produces the same shape again and again: checking a guess with one generated
    function is several times cheaper than walking every value generically.
    """
    cached = _FLATTENERS.get(signature)
    if cached is None:
        cached = _compile_flattener(signature)
        if len(_FLATTENERS) < 4096:
            _FLATTENERS[signature] = cached
    return cached


def _shape_tree(signature: str) -> Any:
    """A signature as nested lists of leaf kinds: "[s[si]]" -> ["s", ["s", "i"]]."""
    stack: list[list[Any]] = [[]]
    for ch in signature:
        if ch == "[":
            stack.append([])
        elif ch == "]":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(ch)
    return stack[0][0]


def _name_tree(var: str, node: Any, names: Iterator[str], leaves: list[str]) -> tuple[str, Any]:
    """(var, node) with every array's children named from `names`; leaves listed.

    A module function, not a closure: a recursive closure is a reference cycle, garbage
    that only the cyclic collector reclaims (see replica.collector_paused)."""
    if isinstance(node, list):
        return var, [_name_tree(next(names), child, names, leaves) for child in node]
    leaves.append(var)
    return var, node


def _compile_flattener(signature: str) -> Callable[[Any], tuple[Any, ...] | None]:
    """Source of a flattener, one combined check per nesting level, e.g. for "[s[si]]"::

        if not (type(v0) in A and len(v0) == 2): return None
        v1, v2, = v0
        if not (type(v1) is str and type(v2) in A and len(v2) == 2): return None
        v3, v4, = v2
        if not (type(v3) is str and type(v4) is int): return None
        return (v1, v3, v4)

    Unpacking an array at once and testing a level in one condition is about a third
    cheaper than indexing and testing element by element (measured on the text ops).
    """
    names = (f"v{n}" for n in range(1, len(signature) + 1))  # one per character at most
    leaves: list[str] = []  # in signature order (depth first)
    lines = ["def flatten(v0):"]
    level = [_name_tree("v0", _shape_tree(signature), names, leaves)]
    while level:
        checks: list[str] = []
        unpacks: list[str] = []
        below: list[tuple[str, Any]] = []
        for var, node in level:
            if isinstance(node, list):
                checks.append(f"type({var}) in A and len({var}) == {len(node)}")
                if node:
                    unpacks.append(f" {', '.join(child for child, _ in node)}, = {var}")
                below.extend(node)
            elif node == "i":
                checks.append(f"type({var}) is int")
            elif node == "s":
                checks.append(f"type({var}) is str")
            else:
                checks.append(f"type({var}) not in N")
        lines.append(f" if not ({' and '.join(checks)}): return None")
        lines.extend(unpacks)
        level = below
    lines.append(f" return ({', '.join(leaves)}{',' if len(leaves) == 1 else ''})")
    namespace: dict[str, Any] = {"A": _ARRAYS, "N": _NOT_LEAF, "len": len, "type": type}
    # signatures come from shape_of, so the source holds only our names, counts and checks
    exec("\n".join(lines), namespace)  # noqa: S102
    function: Callable[[Any], tuple[Any, ...] | None] = namespace["flatten"]
    return function


_RECENT_SHAPES = 4


def _no_shape(op: Any) -> None:
    return None


class OpColumns:
    """Operations appended one by one, kept as their columns: the encoder's state, live.

    A replica adds every local operation as it happens, so the operation values themselves
    (millions of small lists over a long editing session) need not be kept until sealing,
    where the cyclic garbage collector would walk them again and again.  Per shape, the
    leaves of every operation sit in one flat list (stride = the shape's leaf count), so
    a column is one C-level slice at encoding time.  Strings and ints are not tracked by
    the collector, so the accumulator is a handful of GC objects whatever its size.
    """

    __slots__ = ("_flatten", "_recent", "_sid", "_target", "leaves", "op_shapes", "shape_ids")

    def __init__(self) -> None:
        self.shape_ids: dict[str, int] = {}
        self.leaves: list[list[Any]] = []  # per shape, the leaves of its ops end to end
        self.op_shapes: list[int] = []
        # the shape of the previous op: typing repeats one shape, so `flatten(op)` usually
        # returns the leaves at once; None means another shape (see _new_shape)
        self._flatten: Callable[[Any], tuple[Any, ...] | None] = _no_shape
        self._sid = -1
        self._target: list[Any] = []
        # the last shapes used, most recent first, as (shape id, flattener)
        self._recent: list[tuple[int, Callable[[Any], tuple[Any, ...] | None]]] = []

    def __len__(self) -> int:
        return len(self.op_shapes)

    def add(self, op: Any) -> None:
        leaves = self._flatten(op)
        if leaves is None:
            self._new_shape(op)
        else:
            self.op_shapes.append(self._sid)
            self._target += leaves

    def _new_shape(self, op: Any) -> None:
        """Record `op`, whose shape differs from the previous op's."""
        # Typing alternates between a few shapes (insert, delete): try theirs first, which
        # costs a call each instead of a walk of the op and a signature string.
        for known in self._recent:
            leaves = known[1](op)
            if leaves is not None:
                self._recent.remove(known)
                self._recent.insert(0, known)
                self._sid, self._flatten = known
                self._target = self.leaves[self._sid]
                self.op_shapes.append(self._sid)
                self._target += leaves
                return
        found: list[Any] = []
        try:
            signature = shape_of(op, found)
        except RecursionError:  # absurdly deep: msgpack will refuse it when sealing
            signature = "v" * (MAX_SHAPE + 1)
        if len(signature) > MAX_SHAPE:
            # A long, irregular op (a delete of many ranges): one opaque leaf, as is.
            signature, found = "v", [op]
        sid = self.shape_ids.get(signature)
        if sid is None:
            sid = self.shape_ids[signature] = len(self.leaves)
            self.leaves.append([])
        self._sid = sid
        self._target = self.leaves[sid]
        self._flatten = _flattener(signature)
        self.op_shapes.append(sid)
        self._target += found
        self._recent.insert(0, (sid, self._flatten))
        del self._recent[_RECENT_SHAPES:]

    def encode(self, *, checked: bool = True) -> list[Any]:
        """[signatures, op_shape_ids, columns-per-shape], as encode_ops returns.

        `checked=False` skips the scan that keeps int deltas within msgpack's range:
        for a caller that packs the result at once and, if msgpack raises OverflowError,
        encodes again checked (a delta that large needs an int near 2**63 in the op).
        """
        encoded = []
        for signature, flat in zip(self.shape_ids, self.leaves, strict=True):
            kinds = [ch for ch in signature if ch in "isv"]
            stride = len(kinds)
            encoded.append(
                [_encode_column(kind, flat[j::stride], checked) for j, kind in enumerate(kinds)]
            )
        return [list(self.shape_ids), self.op_shapes, encoded]

    def values(self) -> list[Any]:
        """The recorded ops rebuilt from their leaves, in order (arrays come back as lists,
        exactly as a receiver decodes them; other leaves are the very objects recorded)."""
        uses = Counter(self.op_shapes)
        per_shape: list[list[Any]] = []
        for sid, (signature, flat) in enumerate(zip(self.shape_ids, self.leaves, strict=True)):
            build, arity = _builder(signature)
            columns = [flat[j::arity] for j in range(arity)]
            per_shape.append(_build_ops(build, columns, uses[sid]))
        return _in_op_order(per_shape, self.op_shapes)


def encode_ops(ops: list[Any]) -> list[Any]:
    """[signatures, op_shape_ids, columns-per-shape] for a flat list of operations."""
    columns = OpColumns()
    add = columns.add
    for op in ops:
        add(op)
    return columns.encode()


def differences(values: list[int]) -> list[int]:
    """[v0 - 0, v1 - v0, v2 - v1, ...]: the delta coding of an int column, in C (map)."""
    return list(map(sub, values, [0, *values[:-1]]))


def _encode_column(kind: str, column: list[Any], checked: bool = True) -> list[Any]:
    if kind == "i":
        deltas = differences(column)
        if not checked or (min(deltas) >= -(2**63) and max(deltas) < 2**64):  # msgpack's ints
            return [DELTA, deltas]
        return [RAW, column]
    if kind == "s":
        if len(column) > 1 and column.count(column[0]) == len(column):
            # one author typing: the origin and op-kind columns are one repeated value
            return [TABLE, [column[0]], [0] * len(column)]
        table = dict.fromkeys(column, 0)  # distinct values in order of first use, in C
        if len(table) * 2 <= len(column):
            for index, value in enumerate(table):
                table[value] = index
            return [TABLE, list(table), differences(list(map(table.__getitem__, column)))]
    return [RAW, column]


def _decode_column(raw: Any, length: int) -> list[Any]:
    if not isinstance(raw, list) or not raw or type(raw[0]) is not int:
        raise MalformedInput("an op column is [kind, ...]")
    kind = raw[0]
    if kind == RAW and len(raw) == 2 and isinstance(raw[1], list):
        values: list[Any] = raw[1]
    elif kind == DELTA and len(raw) == 2 and isinstance(raw[1], list):
        if raw[1] and set(map(type, raw[1])) != {int}:
            raise MalformedInput("a delta column holds ints")
        values = list(accumulate(raw[1]))
    elif kind == TABLE and len(raw) == 3 and isinstance(raw[1], list) and isinstance(raw[2], list):
        table = raw[1]
        if raw[2] and set(map(type, raw[2])) != {int}:
            raise MalformedInput("a table column holds int deltas")
        indexes = list(accumulate(raw[2]))
        if indexes and (min(indexes) < 0 or max(indexes) >= len(table)):
            raise MalformedInput("a table column points outside its table")
        values = [table[i] for i in indexes]
    else:
        raise MalformedInput(f"unknown op column kind {kind!r}")
    if len(values) != length:
        raise MalformedInput("op columns of one shape must have one value per op")
    return values


def decode_ops(raw: Any, count: int) -> list[Any]:
    """Inverse of encode_ops; `count` is the number of operations expected."""
    if not (isinstance(raw, list) and len(raw) == 3):
        raise MalformedInput("segment ops are [signatures, shape ids, columns]")
    signatures, op_shapes, columns = raw
    if not (isinstance(signatures, list) and isinstance(op_shapes, list)):
        raise MalformedInput("segment op signatures and shape ids must be arrays")
    if not isinstance(columns, list) or len(columns) != len(signatures):
        raise MalformedInput("one column set per op shape")
    if len(op_shapes) != count:
        raise MalformedInput(f"segment declares {count} ops, has {len(op_shapes)}")
    if op_shapes and (
        set(map(type, op_shapes)) != {int}
        or min(op_shapes) < 0
        or max(op_shapes) >= len(signatures)
    ):
        raise MalformedInput("op shape id out of range")
    uses = [0] * len(signatures)
    for sid, used in Counter(op_shapes).items():
        uses[sid] = used
    per_shape: list[list[Any]] = []
    for signature, shape_columns, used in zip(signatures, columns, uses, strict=True):
        if not isinstance(signature, str) or not isinstance(shape_columns, list):
            raise MalformedInput("an op shape is a str with a list of columns")
        build, arity = _builder(signature)
        if len(shape_columns) != arity:
            raise MalformedInput("op shape and column count disagree")
        values = [_decode_column(c, used) for c in shape_columns]
        per_shape.append(_build_ops(build, values, used))
    return _in_op_order(per_shape, op_shapes)


def _build_ops(build: Callable[..., Any], columns: list[list[Any]], count: int) -> list[Any]:
    """`count` ops of one shape from its leaf columns."""
    if columns:
        return [build(*leaves) for leaves in zip(*columns, strict=True)]
    return [build() for _ in range(count)]


def _in_op_order(per_shape: list[list[Any]], op_shapes: list[int]) -> list[Any]:
    """The ops of every shape merged back into their original order."""
    if len(per_shape) == 1:
        return per_shape[0]
    iterators = [iter(ops) for ops in per_shape]
    return [next(iterators[sid]) for sid in op_shapes]
