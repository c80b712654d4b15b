"""Property-based tests: replicas converge under any delivery order, duplication and
partition, through changes_since/apply_segments and through the protocol."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sync.protocol import SyncSession
from sync.replica import Replica
from tests.sync.replicas import replica, snapshot
from tests.sync.session_driver import run_sessions

# French accents, emoji (astral plane, ZWJ sequences) and combining marks
ALPHABET = [*"aeéèêàçôùœ ", "e\u0301", "\u0327", "👩‍🏫", "😀", "🇫🇷", "\n"]
TEXT = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=4).map("".join)

EDIT = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 10_000), TEXT),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 4)),
    st.tuples(st.just("replace"), TEXT, st.integers(0, 10_000)),
    st.tuples(st.just("set"), st.sampled_from(["titre", "auteur"]), TEXT),
    st.tuples(st.just("add"), st.sampled_from(["école", "🎓", "wiki"]), st.just(0)),
    st.tuples(st.just("remove"), st.sampled_from(["école", "🎓", "wiki"]), st.just(0)),
)


def edit(r: Replica, action: tuple[Any, Any, Any]) -> None:
    kind, a, b = action
    text = r.text("page")
    if kind == "insert":
        r.insert_text("page", a % (len(text) + 1), b)
    elif kind == "delete" and text:
        pos = a % len(text)
        r.delete_text("page", pos, min(b, len(text) - pos))
    elif kind == "replace":
        cut = b % (len(text) + 1)
        r.replace_text("page", text[:cut] + a + text[cut + len(a) :])
    elif kind == "set":
        r.set_key("meta", a, b)
    elif kind == "add":
        r.add_element("tags", a)
    elif kind == "remove":
        r.remove_element("tags", a)


def deliver(src: Replica, dst: Replica, rng: random.Random, lossy: bool) -> None:
    """Send src's segments in random order, with duplicates and (if lossy) drops."""
    src.seal()
    segments = src.changes_since({} if rng.random() < 0.3 else dst.version_vector())
    segments = segments + rng.sample(segments, k=len(segments) // 2)  # duplicates
    rng.shuffle(segments)
    if lossy:
        segments = [s for s in segments if rng.random() < 0.7]
    while segments:
        cut = rng.randint(1, len(segments))
        dst.apply_segments(segments[:cut])
        segments = segments[cut:]


def full_sync(replicas: list[Replica]) -> None:
    for _ in range(2):
        for src in replicas:
            for dst in replicas:
                if src is not dst:
                    src.seal()
                    dst.apply_segments(src.changes_since(dst.version_vector()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 4),
    steps=st.lists(
        st.tuples(st.integers(0, 3), EDIT, st.integers(0, 3), st.booleans()), max_size=30
    ),
    seed=st.integers(0, 2**32),
)
def test_replicas_converge_under_any_delivery(n: int, steps: list[Any], seed: int) -> None:
    rng = random.Random(seed)
    replicas = [replica(i + 1) for i in range(n)]
    for who, action, to, lossy in steps:
        src = replicas[who % n]
        edit(src, action)
        dst = replicas[to % n]
        if dst is not src and rng.random() < 0.5:
            deliver(src, dst, rng, lossy)
    full_sync(replicas)
    states = [snapshot(r) for r in replicas]
    assert all(state == states[0] for state in states)
    assert all(r.version_vector() == replicas[0].version_vector() for r in replicas)


@settings(max_examples=30, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 2), EDIT), min_size=1, max_size=20),
    order=st.permutations([0, 1, 2]),
)
def test_merge_is_commutative_associative_idempotent(edits: list[Any], order: list[int]) -> None:
    sources = [replica(i + 1) for i in range(3)]
    for who, action in edits:
        edit(sources[who], action)
    batches = []
    for s in sources:
        s.seal()
        batches.append(s.changes_since({}))
    in_order = replica(9)
    for batch in batches:
        in_order.apply_segments(batch)
    permuted = replica(9)
    for i in order:
        permuted.apply_segments(batches[i])
    grouped = replica(9)  # (A ∪ B) ∪ C versus everything at once
    grouped.apply_segments(batches[order[0]] + batches[order[1]])
    grouped.apply_segments(batches[order[2]])
    assert snapshot(in_order) == snapshot(permuted) == snapshot(grouped)
    again = permuted.apply_segments(batches[0] + batches[1] + batches[2])
    assert again.applied == [] and snapshot(permuted) == snapshot(in_order)


class MeshMachine(RuleBasedStateMachine):
    """Three boxes edit, sync over the protocol or partially, partition and heal."""

    @initialize()
    def boxes(self) -> None:
        self.replicas = [replica(i + 1, seal_every=8) for i in range(3)]
        self.rng = random.Random(0)

    @rule(who=st.integers(0, 2), action=EDIT)
    def edit(self, who: int, action: Any) -> None:
        edit(self.replicas[who], action)

    @rule(a=st.integers(0, 2), b=st.integers(0, 2), window=st.integers(1, 3))
    def sync_protocol(self, a: int, b: int, window: int) -> None:
        if a == b:
            return
        ra, rb = self.replicas[a], self.replicas[b]
        ra.seal()
        rb.seal()
        # a segment of 8 changes with deps on two 63-char origins can pass 512 bytes (found
        # by this test): 2 KB still splits a long exchange into many batches
        size = 2048
        sa = SyncSession(ra, ra.node_id, initiator=True, window=window, batch_bytes=size)
        sb = SyncSession(rb, rb.node_id, initiator=False, window=window, batch_bytes=size)
        run_sessions(
            sa,
            sb,
            lambda batch: ra.apply_segments(batch.segments) and None,
            lambda batch: rb.apply_segments(batch.segments) and None,
        )
        assert snapshot(ra) == snapshot(rb)
        assert ra.version_vector() == rb.version_vector()

    @rule(a=st.integers(0, 2), b=st.integers(0, 2), seed=st.integers(0, 1000))
    def partial_delivery(self, a: int, b: int, seed: int) -> None:
        if a != b:
            deliver(self.replicas[a], self.replicas[b], random.Random(seed), lossy=True)

    @invariant()
    def version_vectors_never_exceed_the_origin(self) -> None:
        for r in self.replicas:
            for origin, seq in r.version_vector().items():
                author = next(x for x in self.replicas if x.node_id == origin)
                assert seq <= author.version_vector()[origin]

    def teardown(self) -> None:
        full_sync(self.replicas)
        states = [snapshot(r) for r in self.replicas]
        assert all(state == states[0] for state in states)


# A random search each run, as for the other properties.  One (the aarch64 CI step,
# 2026-12-02) found the steps kept below in test_a_relayed_change_reaches_a_box_through_
# the_protocol; with follow-ups (PROTOCOL.md §7 step 6), about 75,000 random examples of
# 50 steps over 26 seeds found nothing more, where the engine before them failed one seed
# in three at 2,000 examples.
MeshMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=20, deadline=None)
test_mesh = MeshMachine.TestCase

_GAP_STEPS: list[tuple[str, dict[str, Any]]] = [
    *[("edit", {"who": 0, "action": ("insert", 0, "a")})] * 5,
    ("partial_delivery", {"a": 0, "b": 0, "seed": 0}),
    ("sync_protocol", {"a": 0, "b": 1, "window": 1}),
    ("edit", {"who": 0, "action": ("insert", 0, "a")}),
    ("edit", {"who": 1, "action": ("insert", 0, "a")}),
    ("partial_delivery", {"a": 1, "b": 2, "seed": 0}),
    ("edit", {"who": 1, "action": ("insert", 0, "a")}),
    ("edit", {"who": 0, "action": ("delete", 0, 1)}),
    ("edit", {"who": 0, "action": ("add", "école", 0)}),
    ("partial_delivery", {"a": 1, "b": 0, "seed": 0}),
    ("sync_protocol", {"a": 0, "b": 2, "window": 1}),
]


def test_a_relayed_change_reaches_a_box_through_the_protocol() -> None:
    """Found by a random search (aarch64 CI, 2026-12-02): box 0 holds box 1's seq 2 as an
    early arrival (seq 1 missing) and box 2 holds seq 1.  The last conversation brings seq
    1 to box 0, which then applies 1 and 2, and must send 2 on within that conversation
    (a follow-up, sync/PROTOCOL.md §7 step 6), or sync_protocol's equality check fails."""
    machine = MeshMachine()
    machine.boxes()
    for rule_name, arguments in _GAP_STEPS:
        getattr(machine, rule_name)(**arguments)
