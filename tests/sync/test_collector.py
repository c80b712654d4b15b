"""The engine and CPython's cyclic garbage collector (sync.replica.collector_paused)."""

import gc
import random
from collections.abc import Iterator

import pytest

from sync.replica import Replica
from tests.sync.replicas import replica

WORDS = ["été", "jardin", "cœur", "naïve", "🌍", "e\u0301cole", "wiki", "libre"]


def _wiki_batch(source: Replica, rng: random.Random) -> list[bytes]:
    """A sealed batch of page creations, edits and catalogue writes from `source`."""
    for n in range(60):
        page = f"wiki/page-{rng.randrange(8)}"
        text = source.text(page) if page in source.docs else ""
        words = text.split(" ")
        words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS))
        if len(words) > 4 and rng.random() < 0.3:
            del words[rng.randrange(len(words))]
        source.replace_text(page, " ".join(words))
        if n % 7 == 0:
            source.set_key("catalogue", page, {"titre": rng.choice(WORDS), "n": n})
    source.seal()
    return source.changes_since({})


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector disabled around a test, so nothing is collected behind its back."""
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def test_applying_batches_makes_no_cyclic_garbage(collector_off: None) -> None:
    # collector_paused moves what a batch leaves alive into the oldest generation without
    # scanning it, which is sound because the engine leaves no cycles to reclaim
    rng = random.Random(7)
    source, target = replica(1), replica(2)
    for _round in range(3):
        target.apply_segments(_wiki_batch(source, rng))
        assert target.text("wiki/page-1") == source.text("wiki/page-1")
    del source, target
    assert gc.collect() == 0


def test_a_batch_leaves_the_collector_as_it_found_it() -> None:
    rng = random.Random(8)
    source, target = replica(1), replica(2)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    target.apply_segments(_wiki_batch(source, rng))
    assert gc.isenabled() and gc.get_freeze_count() == 0  # nothing left frozen
    gc.disable()
    try:
        target.apply_segments(_wiki_batch(source, rng))
        assert not gc.isenabled()  # a caller's choice to keep it off is kept
    finally:
        gc.enable()
    assert target.documents() == source.documents()


def test_objects_someone_else_froze_stay_frozen() -> None:
    rng = random.Random(9)
    source, target = replica(1), replica(2)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        target.apply_segments(_wiki_batch(source, rng))
        # not thawed by the engine: gc.unfreeze() would empty the permanent generation
        # (a few frozen objects may be freed meanwhile, which also leaves it)
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()
    assert target.text("wiki/page-2") == source.text("wiki/page-2")
