"""Merge laws of the document types, with hypothesis: any causal order, duplicates, any grouping."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sync.awset import AwSet
from sync.lww import LwwMap
from sync.text import TextDoc

PIECES = [*"aéèàçô ", "e\u0301", "🌍", "👩‍👩‍👧", "🇫🇷", "\n"]
TEXT = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map("".join)
ORIGINS = ["alice", "bob", "chloé"]


class Replicas:
    """Three text replicas that exchange ops under causal delivery."""

    def __init__(self) -> None:
        self.docs = [TextDoc() for _ in ORIGINS]
        self.log: list[tuple[int, Any, frozenset[int]]] = []  # (author, op, deps)
        self.seen: list[set[int]] = [set() for _ in ORIGINS]

    def local(self, who: int, action: tuple[str, int, Any]) -> None:
        doc = self.docs[who]
        kind, at, arg = action
        if kind == "insert":
            op = doc.local_insert(ORIGINS[who], at % (len(doc) + 1), arg)
        elif len(doc):
            pos = at % len(doc)
            op = doc.local_delete(ORIGINS[who], pos, min(arg, len(doc) - pos))
        else:
            return
        if op is not None:
            self.log.append((who, op, frozenset(self.seen[who])))
            self.seen[who].add(len(self.log) - 1)

    def hostile(self, who: int, at: int, text: str) -> None:
        """An insert signed with its origins swapped (right before left): what a broken
        or hostile box could send.  It must still converge everywhere."""
        doc = self.docs[who]
        scratch = TextDoc.decode_state(doc.encode_state())
        _, counter, _, left, right = scratch.local_insert(ORIGINS[who], at % (len(doc) + 1), text)
        if left is None or right is None:
            return
        op = ["i", counter, text, right, left]
        doc.apply(op, ORIGINS[who], 0)
        self.log.append((who, op, frozenset(self.seen[who])))
        self.seen[who].add(len(self.log) - 1)

    def deliverable(self, who: int) -> list[int]:
        return [
            k
            for k, (_, _, deps) in enumerate(self.log)
            if k not in self.seen[who] and deps <= self.seen[who]
        ]

    def deliver(self, who: int, k: int, twice: bool) -> None:
        author, op, _ = self.log[k]
        for _ in range(2 if twice else 1):
            self.docs[who].apply(op, ORIGINS[author], 0)
        self.seen[who].add(k)

    def flush(self) -> None:
        for who in range(len(ORIGINS)):
            while pending := self.deliverable(who):
                self.deliver(who, pending[0], False)


ACTION = st.tuples(
    st.sampled_from(["insert", "delete"]), st.integers(0, 500), TEXT | st.integers(1, 3)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), ACTION, st.integers(0, 2), st.booleans()), max_size=25),
    st.randoms(use_true_random=False),
)
def test_text_replicas_converge_under_any_causal_order(steps: Any, rng: Any) -> None:
    net = Replicas()
    for who, (kind, at, arg), to, twice in steps:
        if kind == "insert" and not isinstance(arg, str):
            arg = "x"
        if kind == "delete" and isinstance(arg, str):
            arg = 1
        net.local(who, (kind, at, arg))
        pending = net.deliverable(to)
        if pending:
            net.deliver(to, rng.choice(pending), twice)
    net.flush()
    assert len({doc.value() for doc in net.docs}) == 1
    assert len({doc.encode_state() for doc in net.docs}) >= 1
    for doc in net.docs:
        assert TextDoc.decode_state(doc.encode_state()).value() == doc.value()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), ACTION, st.booleans(), st.integers(0, 2), st.booleans()),
        max_size=25,
    ),
    st.randoms(use_true_random=False),
)
def test_text_replicas_converge_even_with_swapped_origins(steps: Any, rng: Any) -> None:
    net = Replicas()
    for who, (kind, at, arg), swapped, to, twice in steps:
        text = arg if isinstance(arg, str) else "x"
        if swapped:
            net.hostile(who, at, text)
        elif kind == "insert":
            net.local(who, ("insert", at, text))
        else:
            net.local(who, ("delete", at, arg if isinstance(arg, int) else 1))
        pending = net.deliverable(to)
        if pending:
            net.deliver(to, rng.choice(pending), twice)
    net.flush()
    assert len({doc.value() for doc in net.docs}) == 1


MAP_OPS = st.lists(
    st.tuples(
        st.sampled_from(ORIGINS),
        st.integers(0, 5),
        st.sampled_from(["titre", "langue"]),
        st.none() | TEXT,
    ),
    max_size=12,
)


def _map_from(ops: list[Any]) -> dict[str, Any]:
    doc = LwwMap()
    for origin, hlc, key, value in ops:
        doc.apply(["x", key] if value is None else ["s", key, value], origin, hlc)
    return doc.value()


def _stamped(ops: list[Any]) -> list[Any]:
    """One origin never writes one key twice with the same clock: make stamps unique."""
    return [(o, h * 100 + k, key, v) for k, (o, h, key, v) in enumerate(ops)]


@settings(max_examples=80, deadline=None)
@given(MAP_OPS, st.randoms(use_true_random=False))
def test_map_merge_is_commutative_associative_idempotent(ops: Any, rng: Any) -> None:
    ops = _stamped(ops)
    shuffled = list(ops)
    rng.shuffle(shuffled)
    assert _map_from(ops) == _map_from(shuffled) == _map_from(ops + shuffled)


SET_OPS = st.lists(
    st.tuples(
        st.sampled_from(ORIGINS),
        st.integers(0, 6),
        st.booleans(),
        st.sampled_from(["a", "é", "🌍"]),
    ),
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(SET_OPS, st.randoms(use_true_random=False))
def test_set_add_wins_in_any_order(ops: Any, rng: Any) -> None:
    """Removes name the tags their author saw; replaying in any order gives one answer."""
    author = AwSet()
    stream: list[tuple[list[Any], str, int]] = []
    for origin, hlc, add, element in ops:
        op = (
            author.local_add(origin, hlc, element)
            if add
            else author.local_remove(origin, hlc, element)
        )
        stream.append((op, origin, hlc))
    results = set()
    for attempt in range(3):
        order = list(stream)
        if attempt:
            rng.shuffle(order)
        doc = AwSet()
        for op, origin, hlc in order + order[: len(order) // 2]:
            doc.apply(op, origin, hlc)
        results.add(doc.value())
    assert results == {author.value()}


class TextMachine(RuleBasedStateMachine):
    """Stateful: edits and deliveries interleave; at every step, state round-trips, and
    replicas that have seen the same ops read the same text."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Replicas()

    @rule(who=st.integers(0, 2), text=TEXT, at=st.integers(0, 400))
    def insert(self, who: int, text: str, at: int) -> None:
        self.net.local(who, ("insert", at, text))

    @rule(who=st.integers(0, 2), at=st.integers(0, 400), n=st.integers(1, 4))
    def delete(self, who: int, at: int, n: int) -> None:
        self.net.local(who, ("delete", at, n))

    @precondition(lambda self: bool(self.net.log))
    @rule(who=st.integers(0, 2), pick=st.integers(0, 1000), twice=st.booleans())
    def deliver(self, who: int, pick: int, twice: bool) -> None:
        pending = self.net.deliverable(who)
        if pending:
            self.net.deliver(who, pending[pick % len(pending)], twice)

    @invariant()
    def same_ops_same_text(self) -> None:
        by_seen: dict[frozenset[int], str] = {}
        for who, doc in enumerate(self.net.docs):
            key = frozenset(self.net.seen[who])
            assert by_seen.setdefault(key, doc.value()) == doc.value()

    def teardown(self) -> None:
        self.net.flush()
        assert len({doc.value() for doc in self.net.docs}) == 1


TextMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
test_text_machine = TextMachine.TestCase


# Typing moves mostly a little at a time, and sometimes jumps: both, and enough edits to
# split blocks, so that the cursor, its item hint and the rebalancing are all exercised.
EDIT = st.tuples(
    st.sampled_from(["insert", "insert", "delete"]),
    st.one_of(st.integers(-3, 3), st.integers(-60, 60), st.integers(-2000, 2000)),
    TEXT | st.integers(1, 6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=400))
def test_local_edits_read_back_as_the_same_str_edits(edits: Any) -> None:
    doc, model, at = TextDoc(), "", 0
    for kind, move, arg in edits:
        at = min(max(at + move, 0), len(model))
        if kind == "insert" and isinstance(arg, str):
            doc.local_insert("alice", at, arg)
            model = model[:at] + arg + model[at:]
            at += len(arg)
        elif kind == "delete" and model and isinstance(arg, int):
            at = min(at, len(model) - 1)
            length = min(arg, len(model) - at)
            doc.local_delete("alice", at, length)
            model = model[:at] + model[at + length :]
        assert len(doc) == len(model)
    assert doc.value() == model
    assert TextDoc.decode_state(doc.encode_state()).value() == model
