"""The curriculum: one folder per step under exercises/, found and read by name.

exercises/05-add/
    README.md        the lesson: goal, background, what to run, what to look for, hints
    exercise.toml    title and file names
    starter.py       what the student starts from (TODOs); the suffix follows `file`
    solution.py      the reference solution (instructors can run it)
    check.py         `def check(c: Checker) -> None`: behaviour, not text
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent / "exercises"
FOLDER_RE = re.compile(r"^(\d{2})-([a-z0-9-]+)$")


class ExerciseError(LookupError):
    pass


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str
    folder: Path
    title: str
    file: str  # the student's file name in the workspace
    summary: str

    @property
    def readme(self) -> str:
        return (self.folder / "README.md").read_text()

    @property
    def starter(self) -> Path:
        return self.folder / f"starter{Path(self.file).suffix}"

    @property
    def solution(self) -> Path:
        return self.folder / f"solution{Path(self.file).suffix}"

    @property
    def check_file(self) -> Path:
        return self.folder / "check.py"

    @cached_property
    def hints(self) -> list[str]:
        """The README's "### Hint N" sections, in order: they unlock one by one."""
        parts = re.split(r"^### Hint \d+[^\n]*\n", self.readme, flags=re.M)[1:]
        return [re.split(r"^#{1,3} ", p, maxsplit=1, flags=re.M)[0].strip() for p in parts]

    @property
    def lesson(self) -> str:
        """The README without its hints (they are shown one at a time)."""
        return re.split(r"^## Hints", self.readme, maxsplit=1, flags=re.M)[0].rstrip() + "\n"


def _load(folder: Path) -> Exercise:
    match = FOLDER_RE.match(folder.name)
    assert match is not None
    meta = tomllib.loads((folder / "exercise.toml").read_text())
    return Exercise(
        number=int(match.group(1)),
        slug=match.group(2),
        folder=folder,
        title=meta["title"],
        file=meta.get("file", "plugin.py"),
        summary=meta.get("summary", ""),
    )


def all_exercises(root: Path = ROOT) -> list[Exercise]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and FOLDER_RE.match(p.name))
    return [_load(f) for f in folders if (f / "exercise.toml").exists()]


def get_exercise(number: int | str, root: Path = ROOT) -> Exercise:
    """A step by its number (`6`, `"06"`) or its slug (`"add"`): slugs survive renumbering."""
    text = str(number).strip()
    exercises = all_exercises(root)
    if text.isdigit():
        for ex in exercises:
            if ex.number == int(text):
                return ex
        raise ExerciseError(f"there is no exercise {int(text)} (see `cnilab exercise list`)")
    for ex in exercises:
        if ex.slug == text:
            return ex
    raise ExerciseError(
        f"there is no exercise {text[:40]!r}: give its number or slug (see `cnilab exercise list`)"
    )
