"""Content packs: the shipped demo pack loads; broken packs are reported and skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from meshportal.packs import load_packs
from meshportal.web.lessons import default_content_dir

GOOD = """+++
title = "Titre"
summary = "Résumé"
language = "fr"
theme = "sensibilisation"
reading_time = 2
order = 1
+++

# Titre

Texte ![schéma](images/schema.svg)
"""


def make_pack(root: Path, name: str, lesson: bytes | str, image: bool = True) -> Path:
    pack = root / name
    (pack / "images").mkdir(parents=True)
    (pack / "manifest.toml").write_text(
        'title = { fr = "P" }\ndescription = { fr = "D" }\nlanguages = ["fr"]\n'
        'licence = "CC BY-SA 4.0"\nversion = "1"\n'
    )
    data = lesson.encode() if isinstance(lesson, str) else lesson
    (pack / "01-lecon.fr.md").write_bytes(data)
    if image:
        (pack / "images" / "schema.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return pack


def test_shipped_demo_pack_loads_in_both_languages() -> None:
    packs, problems = load_packs(default_content_dir())
    assert problems == []
    demo = {p.name: p for p in packs}["bienvenue"]
    assert {lesson.language for lesson in demo.lessons} == {"fr", "en"}
    assert demo.licence == "CC BY-SA 4.0"


@pytest.mark.parametrize(
    ("lesson", "image", "line", "message"),
    [
        (GOOD.replace("order = 1", "order = = 1"), True, 7, "bad front matter"),
        (GOOD.replace("reading_time = 2\n", ""), True, 2, "reading_time"),
        (GOOD, False, 12, "images/schema.svg is missing"),
        (GOOD.replace("images/schema.svg", "../../etc/passwd"), True, 12, "must be a file"),
        (GOOD.replace("+++\n", "", 1), True, 1, "starts with +++"),
        (GOOD.encode().replace(b"Texte", b"Te\xffxte"), True, 12, "not valid UTF-8"),
    ],
)
def test_broken_pack_is_reported_by_file_and_line_and_skipped(
    tmp_path: Path, lesson: str | bytes, image: bool, line: int, message: str
) -> None:
    make_pack(tmp_path, "cassee", lesson, image)
    make_pack(tmp_path, "saine", GOOD)
    packs, problems = load_packs(tmp_path)
    assert [p.name for p in packs] == ["saine"]
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file.name == "01-lecon.fr.md" and problem.line == line, str(problem)
    assert message in problem.message and "cassee/01-lecon.fr.md" in str(problem)


def test_missing_content_folder_is_no_error(tmp_path: Path) -> None:
    assert load_packs(tmp_path / "nothing") == ([], [])
    shutil.rmtree(tmp_path)
