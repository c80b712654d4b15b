from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.text import TextDoc
from sync.textdiff import apply_patches, common_prefix, common_suffix, diff_patches

ALPHABET = st.sampled_from(list("ab éèà\n🌍\u0301xyz"))


def test_small_edits_give_small_patches() -> None:
    old = "Le vélo est sobre.\n" * 50
    new = old.replace("sobre", "très sobre", 1)
    assert diff_patches(old, new) == [(12, 0, "très ")]
    assert diff_patches(old, old) == []
    assert diff_patches("", "abc") == [(0, 0, "abc")]
    assert diff_patches("abc", "") == [(0, 3, "")]


def test_one_changed_line_in_a_100kb_page() -> None:
    lines = [f"Ligne {i} : une phrase en français avec des accents éàù.\n" for i in range(1800)]
    old = "".join(lines)
    assert len(old) > 100_000
    lines[900] = "Ligne 900 : réécrite entièrement par un visiteur.\n"
    lines.insert(1200, "Une ligne ajoutée.\n")
    new = "".join(lines)
    patches = diff_patches(old, new)
    assert apply_patches(old, patches) == new
    assert sum(len(ins) for _, _, ins in patches) < 100
    assert sum(d for _, d, _ in patches) < 80


def test_prefix_and_suffix_helpers() -> None:
    a = "x" * 1000 + "A" + "y" * 700
    b = "x" * 1000 + "BB" + "y" * 700
    assert common_prefix(a, b) == 1000
    assert common_suffix(a, b, 701) == 700


@settings(max_examples=150, deadline=None)
@given(st.text(ALPHABET, max_size=80), st.text(ALPHABET, max_size=80))
def test_patches_turn_old_into_new(old: str, new: str) -> None:
    assert apply_patches(old, diff_patches(old, new)) == new


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=30), min_size=1, max_size=6))
def test_local_replace_through_the_crdt(versions: list[str]) -> None:
    doc, mirror = TextDoc(), TextDoc()
    for version in versions:
        for op in doc.local_replace("A", version):
            mirror.apply(op, "A", 0)
        assert doc.value() == mirror.value() == version
