"""Three-way merge of two saves made from the same base revision."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meshportal.wiki.merge import merge3

TEXT = st.text(alphabet="abc é🌱\n", max_size=40)


def test_disjoint_edits_both_apply() -> None:
    base = "Le vélo est utile.\nLa marche aussi.\n"
    first = base.replace("utile", "très utile")
    second = base.replace("aussi", "aussi, et le train")
    assert merge3(base, first, second) == "Le vélo est très utile.\nLa marche aussi, et le train.\n"


def test_same_place_keeps_both_insertions_first_save_first() -> None:
    assert merge3("abc", "aXbc", "aYbc") == "aXYbc"


def test_deletions_union_and_insertions_survive() -> None:
    assert merge3("hello world", "hello", "hello world!") == "hello!"
    assert merge3("un deux trois", "un trois", "un deux 3") == "un 3"


@settings(deadline=None)  # a loaded CI machine is slow, not wrong
@given(TEXT, TEXT)
def test_one_side_unchanged_gives_the_other(base: str, other: str) -> None:
    assert merge3(base, other, base) == other
    assert merge3(base, base, other) == other
    assert merge3(base, other, other) == other


@settings(deadline=None)
@given(TEXT, st.data())
def test_edits_in_separate_halves_both_apply(base: str, data: st.DataObject) -> None:
    cut = len(base) // 2
    left = data.draw(st.text(alphabet="xyz", max_size=5))
    right = data.draw(st.text(alphabet="xyz", max_size=5))
    first = left + base  # an insertion at the very start
    second = base + right  # and one at the very end
    assume(first != second)  # two identical saves are one edit, kept once
    assert merge3(base, first, second) == left + base + right
    if cut:
        shortened = base[:cut]  # one side drops the end, the other prepends
        assert merge3(base, left + base, shortened) == left + shortened
