import pytest

from sync.change import Change
from sync.errors import BufferFull, DocumentTypeMismatch, IncompleteVersion, UnencodableValue
from tests.sync.replicas import replica, snapshot, sync_pair

FRENCH = "Élève naïve à l'école: ça coûte 5 € 👩‍🏫 e\u0301"


def test_edits_by_position_and_by_whole_text_make_one_change_each() -> None:
    r = replica(1)
    assert r.insert_text("page", 0, FRENCH) is not None
    r.splice_text("page", 0, 5, "Eleve")
    change = r.replace_text("page", FRENCH + " fin")
    assert isinstance(change, Change) and change.seq == 3
    assert r.text("page") == FRENCH + " fin"
    assert r.replace_text("page", FRENCH + " fin") is None  # no difference, no change
    assert r.version_vector() == {r.node_id: 3}


def test_maps_sets_and_type_mismatch() -> None:
    r = replica(1)
    r.set_key("meta", "titre", "Accueil")
    r.add_element("tags", "école")
    r.add_element("tags", "wiki")
    r.remove_element("tags", "wiki")
    assert r.value("meta") == {"titre": "Accueil"}
    assert r.value("tags") == frozenset({"école"})
    with pytest.raises(DocumentTypeMismatch):
        r.insert_text("meta", 0, "x")
    assert r.documents() == {"meta": "map", "tags": "set"}


@pytest.mark.parametrize(
    "value",
    [{"école", "wiki"}, {1: "une clé entière"}, 2**70, object()],
    ids=["python set", "int map key", "int beyond 64 bits", "object"],
)
def test_a_value_peers_could_not_decode_is_refused_before_anything_changes(value: object) -> None:
    r = replica(1)
    r.set_key("meta", "titre", "Accueil")
    before = (snapshot(r), r.version_vector(), r.pending_count())
    with pytest.raises(UnencodableValue):
        r.set_key("meta", "titre", value)
    assert (snapshot(r), r.version_vector(), r.pending_count()) == before
    # the change already made still seals and replicates
    peer = replica(2)
    sync_pair(r, peer)
    assert snapshot(peer) == snapshot(r) == {"meta": {"titre": "Accueil"}}


def test_a_value_is_kept_as_peers_decode_it() -> None:
    a, b = replica(1), replica(2)
    a.set_key("meta", "rangée", ("a", (1, 2), b"\x00"))
    sync_pair(a, b)
    assert a.value("meta") == b.value("meta") == {"rangée": ["a", [1, 2], b"\x00"]}


def test_two_replicas_converge_and_duplicates_are_no_ops() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "Bonjour")
    b.insert_text("p", 0, "Salut")
    b.set_key("m", "k", "b")
    sync_pair(a, b)
    assert snapshot(a) == snapshot(b)
    assert a.version_vector() == b.version_vector()
    again = b.apply_segments(a.changes_since({}))
    assert again.applied == [] and again.duplicates > 0


def test_history_and_past_versions() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "un")
    a.insert_text("p", 2, " deux")
    sync_pair(a, b)
    b.insert_text("p", 0, "zéro ")
    a.set_key("other", "k", 1)
    sync_pair(a, b)
    history = a.history("p")
    assert [(h.origin, h.seq) for h in history] == [
        (a.node_id, 1),
        (a.node_id, 2),
        (b.node_id, 1),
    ]
    assert [a.value_at("p", h.version) for h in history] == ["un", "un deux", "zéro un deux"]
    assert b.history("p")[-1].origin == b.node_id
    with pytest.raises(IncompleteVersion):
        a.value_at("p", {b.node_id: 1})  # b's change depends on a's first two


def test_early_segments_wait_then_apply_in_order() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "a")
    a.seal()
    a.insert_text("p", 1, "b")
    a.seal()
    a.insert_text("p", 2, "c")
    a.seal()
    first, second, third = a.changes_since({})
    result = b.apply_segments([third])
    assert result.applied == [] and result.waiting == 1
    assert b.version_vector() == {}
    b.apply_segments([second])
    assert b.apply_segments([first]).applied[-1].seq == 3
    assert b.text("p") == "abc"


def test_causal_dependencies_across_origins_are_respected() -> None:
    a, b, c = replica(1), replica(2), replica(3)
    a.insert_text("p", 0, "x")
    sync_pair(a, b)
    b.insert_text("p", 1, "y")  # depends on a:1
    b.seal()
    only_b = [s for s in b.changes_since({a.node_id: 1})]
    result = c.apply_segments(only_b)
    assert result.applied == [] and result.waiting == 1
    c.apply_segments(a.changes_since({}))
    assert c.text("p") == "xy"


def test_early_buffer_is_bounded() -> None:
    a, b = replica(1), replica(2, buffer_limit=3)
    for i in range(5):
        a.insert_text("p", i, "z")
        a.seal()
    segments = a.changes_since({})
    b.apply_segments(segments[2:4])
    before = snapshot(b), b.version_vector()
    with pytest.raises(BufferFull):
        b.apply_segments(segments[4:] + segments[1:2])  # 1 + 2 waiting + 1... > 3
    assert (snapshot(b), b.version_vector()) == before
    b.apply_segments(segments[:1])
    b.apply_segments(segments)
    assert b.text("p") == "zzzzz"


def test_subscribers_see_local_and_remote_changes() -> None:
    a, b = replica(1), replica(2)
    seen: list[tuple[int, bool]] = []
    unsubscribe = b.subscribe(lambda changes, local: seen.append((len(changes), local)))
    b.insert_text("p", 0, "ici")
    a.insert_text("q", 0, "là")
    a.insert_text("q", 2, "-bas")
    sync_pair(a, b)
    assert seen == [(1, True), (2, False)]
    unsubscribe()
    b.insert_text("p", 0, "!")
    assert len(seen) == 2


def test_own_changes_come_back_after_losing_local_state() -> None:
    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "mémoire")
    sync_pair(a, b)
    amnesic = replica(1)  # same key, empty state (restored from backup of the key only)
    amnesic.apply_segments(b.changes_since({}))
    assert amnesic.text("p") == "mémoire"
    amnesic.insert_text("p", 0, "ma ")
    sync_pair(amnesic, b)
    assert b.text("p") == "ma mémoire"


def test_sealing_splits_segments_that_would_not_fit_a_frame() -> None:
    import random

    from sync.replica import MAX_SEGMENT_BYTES

    rng = random.Random(1)
    a, b = replica(1), replica(2)
    for _ in range(3):
        # random CJK: about 14 bits per character, so zlib cannot shrink it below 1 MiB
        noise = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(250_000))
        a.insert_text("big", 0, noise)
    segments = a.seal()
    assert len(segments) > 1
    assert all(len(s.raw) <= MAX_SEGMENT_BYTES or s.envelope.count == 1 for s in segments)
    b.apply_segments(a.changes_since({}))
    assert b.text("big") == a.text("big")


def test_applying_a_batch_restores_the_collector_as_it_was() -> None:
    import gc

    a, b = replica(1), replica(2)
    a.insert_text("p", 0, "un")
    a.seal()
    assert gc.isenabled()
    b.apply_segments(a.changes_since({}))
    assert gc.isenabled()
    gc.disable()
    try:
        a.insert_text("p", 0, "deux ")
        a.seal()
        b.apply_segments(a.changes_since(b.version_vector()))
        assert not gc.isenabled()  # a host that runs without the collector keeps it off
    finally:
        gc.enable()
    assert b.text("p") == "deux un"
