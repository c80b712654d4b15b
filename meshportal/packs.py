"""Content packs: folders of lessons under content/, indexed at start.

A pack is a folder with ``manifest.toml`` and lessons ``NN-slug.LANG.md`` that open
with TOML front matter between ``+++`` lines.  A broken pack (bad front matter,
invalid UTF-8, a missing image) is reported with its file and line and skipped: one
bad pack never keeps the daemon or the other packs from working.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LESSON_FIELDS = {"title": str, "summary": str, "language": str, "theme": str,
                 "reading_time": int, "order": int}  # fmt: skip
_LESSON_NAME = re.compile(r"^(?P<slug>[a-z0-9][a-z0-9-]*)\.(?P<lang>[a-z]{2})\.md$")
_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<src>[^)\s]+)")
_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class PackError(Exception):
    def __init__(self, file: Path, line: int, message: str) -> None:
        super().__init__(f"{file.parent.name}/{file.name}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class Lesson:
    pack: str
    slug: str
    language: str
    title: str
    summary: str
    theme: str
    reading_time: int
    order: int
    body: str  # Markdown


@dataclass
class Pack:
    name: str
    path: Path
    title: dict[str, str]
    description: dict[str, str]
    languages: list[str]
    licence: str
    version: str
    lessons: list[Lesson] = field(default_factory=list)

    def in_language(self, language: str) -> list[Lesson]:
        """Lessons in that language, falling back lesson by lesson to any other."""
        by_slug: dict[str, Lesson] = {}
        for lesson in self.lessons:
            if lesson.slug not in by_slug or lesson.language == language:
                by_slug[lesson.slug] = lesson
        return sorted(by_slug.values(), key=lambda item: (item.order, item.slug))


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PackError(path, line, "not valid UTF-8") from None


def _toml(path: Path, text: str, first_line: int) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = first_line + int(match.group(1)) - 1 if match else first_line
        raise PackError(path, line, f"bad front matter: {exc}") from None


def _lesson(pack: str, pack_dir: Path, path: Path) -> Lesson:
    name = _LESSON_NAME.match(re.sub(r"^\d+-", "", path.name))
    if name is None:
        raise PackError(path, 1, "lesson files are named NN-slug.LANG.md")
    text = _read_text(path)
    lines = text.split("\n")
    if not lines or lines[0].strip() != "+++":
        raise PackError(path, 1, "a lesson starts with +++ front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise PackError(path, 1, "front matter is never closed with +++") from None
    meta = _toml(path, "\n".join(lines[1:end]), 2)
    for key, kind in LESSON_FIELDS.items():
        if not isinstance(meta.get(key), kind):
            raise PackError(path, 2, f"front matter needs {key} ({kind.__name__})")
    if meta["language"] != name["lang"]:
        raise PackError(path, 2, f"language {meta['language']} but the file says {name['lang']}")
    body = "\n".join(lines[end + 1 :])
    for number, line in enumerate(lines[end + 1 :], end + 2):
        for image in _IMAGE.finditer(line):
            src = image["src"]
            target = (pack_dir / src).resolve()
            if "://" in src or not target.is_relative_to(pack_dir.resolve()):
                raise PackError(path, number, f"image {src} must be a file of the pack")
            if not target.is_file():
                raise PackError(path, number, f"image {src} is missing")
    return Lesson(pack, name["slug"], meta["language"], meta["title"], meta["summary"],
                  meta["theme"], meta["reading_time"], meta["order"], body)  # fmt: skip


def load_pack(pack_dir: Path) -> Pack:
    if not _PACK_NAME.match(pack_dir.name):
        raise PackError(pack_dir / "manifest.toml", 1, "pack folders are named a-z, 0-9, -")
    manifest_path = pack_dir / "manifest.toml"
    if not manifest_path.is_file():
        raise PackError(manifest_path, 1, "missing manifest.toml")
    manifest = _toml(manifest_path, _read_text(manifest_path), 1)
    for key in ("title", "description"):
        if not isinstance(manifest.get(key), dict):
            raise PackError(manifest_path, 1, f"{key} is a table of languages, e.g. {{ fr = … }}")
    pack = Pack(pack_dir.name, pack_dir, manifest["title"], manifest["description"],
                list(manifest.get("languages", [])), str(manifest.get("licence", "")),
                str(manifest.get("version", "")))  # fmt: skip
    for path in sorted(pack_dir.glob("*.md")):
        pack.lessons.append(_lesson(pack.name, pack_dir, path))
    return pack


def load_packs(root: Path) -> tuple[list[Pack], list[PackError]]:
    """Every valid pack under ``root``, and the problems of the others."""
    packs: list[Pack] = []
    problems: list[PackError] = []
    if not root.is_dir():
        return packs, problems
    for pack_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            packs.append(load_pack(pack_dir))
        except PackError as problem:
            problems.append(problem)
        except OSError as exc:
            problems.append(PackError(pack_dir / "manifest.toml", 1, f"unreadable: {exc}"))
    return packs, problems
