"""Real editing traces (shared/traces) replayed through the text CRDT, document level."""

from __future__ import annotations

from typing import Any

import pytest

from sync.text import TextDoc
from tests.sync.shared_traces import load_trace


@pytest.mark.slow
@pytest.mark.parametrize("name", ["automerge-paper", "seph-blog1"])
def test_sequential_trace_ends_exactly_at_end_content(name: str) -> None:
    trace = load_trace(name)
    doc = TextDoc()
    if trace["startContent"]:
        doc.local_insert("auteur", 0, trace["startContent"])
    for txn in trace["txns"]:
        for pos, deleted, inserted in txn["patches"]:
            if deleted:
                doc.local_delete("auteur", pos, deleted)
            if inserted:
                doc.local_insert("auteur", pos, inserted)
    assert doc.value() == trace["endContent"]
    # Runs and merged tombstones keep the history small: far fewer items than edits.
    assert doc.item_count() < len(trace["txns"]) / 5
    assert TextDoc.decode_state(doc.encode_state()).value() == trace["endContent"]


def _causal_ancestors(txns: list[dict[str, Any]], index: int, done: set[int]) -> list[int]:
    """Ancestors of txn ``index`` not in ``done`` (whose own ancestors are all in it)."""
    found: set[int] = set()
    stack = [p for p in txns[index]["parents"] if p not in done]
    while stack:
        p = stack.pop()
        if p not in found:
            found.add(p)
            stack.extend(q for q in txns[p]["parents"] if q not in done)
    return sorted(found)


@pytest.mark.slow
def test_concurrent_trace_converges_and_matches() -> None:
    trace = load_trace("friendsforever")
    txns: list[dict[str, Any]] = trace["txns"]
    agents = trace["numAgents"]
    docs = [TextDoc() for _ in range(agents)]
    applied: list[set[int]] = [set() for _ in range(agents)]
    ops: list[list[Any]] = []
    for index, txn in enumerate(txns):
        agent = txn["agent"]
        doc = docs[agent]
        # Deliver exactly the causal ancestors this agent had not seen yet.
        for parent in _causal_ancestors(txns, index, applied[agent]):
            for op in ops[parent]:
                doc.apply(op, f"agent-{txns[parent]['agent']}", 0)
            applied[agent].add(parent)
        produced = []
        for pos, deleted, inserted in txn["patches"]:
            if deleted:
                produced.append(doc.local_delete(f"agent-{agent}", pos, deleted))
            if inserted:
                produced.append(doc.local_insert(f"agent-{agent}", pos, inserted))
        ops.append([op for op in produced if op is not None])
        applied[agent].add(index)
    for agent, doc in enumerate(docs):
        for index in range(len(txns)):
            if index not in applied[agent]:
                for op in ops[index]:
                    doc.apply(op, f"agent-{txns[index]['agent']}", 0)
    texts = {doc.value() for doc in docs}
    assert len(texts) == 1, "replicas diverged"
    # YATA orders these concurrent inserts as the recording tool did.
    assert texts.pop() == trace["endContent"]
