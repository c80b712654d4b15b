"""Real editing traces through the replica: one change per transaction, stored in SQLite,
then a replica rebuilt from the stored changes (signatures and chains re-verified) must
equal the original."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync.replicas import identity, open_store, replica
from tests.sync.shared_traces import load_trace


@pytest.mark.slow
@pytest.mark.parametrize("name", ["automerge-paper", "seph-blog1"])
async def test_replica_rebuilt_from_stored_changes_equals_the_original(
    name: str, tmp_path: Path
) -> None:
    trace = load_trace(name)
    r = replica(1)
    doc = "page"
    if trace["startContent"]:
        r.insert_text(doc, 0, trace["startContent"])
    for txn in trace["txns"]:
        r.edit_text(doc, txn["patches"])  # one change per transaction
    assert r.text(doc) == trace["endContent"]
    async with open_store(tmp_path / "trace.db") as store:
        await store.async_commit(r)
        loaded = await store.async_load(identity(1))
        assert loaded.text(doc) == trace["endContent"]
        rebuilt = await store.async_rebuild(identity(1))
        assert rebuilt.text(doc) == trace["endContent"]
        assert rebuilt.version_vector() == r.version_vector()
