"""The curriculum: one folder per step under exercises/, found and read by name.

exercises/06-add/
    README.md        the lesson: goal, background, what to run, what to look for, hints
    exercise.toml    title, summary and the student's file name (`file`)
    starter.py       what the student starts from (TODOs); the suffix follows `file`
    solution.py      the reference solution (instructors can run it)
    check.py         `def check(c: Checker) -> None`: behaviour, not text
    start.py         optional: `def start(plan: Plan, workspace_dir: Path) -> None`, run by
                     `cnilab exercise start N` and the page's Start once the starter is
                     copied, to prepare the lab for the step (a troubleshooting step hides
                     a random fault there). It must be safe to run again.

A README's "## What to run" blocks are typed one line at a time (the page's Run button;
tests/exercises/test_what_to_run.py runs them as written): one command per line (or
several split by `;`), `#` starts a comment, no shell syntax (pipes, redirections, `$`,
globs) but a file written from a quoted here-document (`cat > PATH <<'EOF'`). A command
the lesson means to fail ends in `# fails: why`, one whose outcome depends on a
troubleshooting step's hidden fault in `# may fail: why`; every other must exit 0.

Hints are a ladder: each `### Hint N: <title>` section has three rungs, introduced by
the lines `#### Concept`, `#### Where in the API` and `#### Code`, in that order; the
student asks for them one at a time. A hint written before the ladder (no rungs) reads
as a single rung.
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

    @property
    def start_file(self) -> Path:
        return self.folder / "start.py"

    @cached_property
    def hints(self) -> list[Hint]:
        """The README's "### Hint N: title" sections, in order, each a ladder of rungs."""
        return parse_hints(self.readme)

    def hint(self, number: int) -> Hint | None:
        return self.hints[number - 1] if 1 <= number <= len(self.hints) else None

    @property
    def lesson(self) -> str:
        """The README without its hints (they are shown one at a time)."""
        return re.split(r"^## Hints", self.readme, maxsplit=1, flags=re.M)[0].rstrip() + "\n"


RUNGS = ("Concept", "Where in the API", "Code")
HINT_RE = re.compile(r"^### Hint (\d+)[ \t]*:?[ \t]*([^\n]*)\n", re.M)
RUNG_RE = re.compile(r"^#### ([^\n]+?)[ \t]*\n", re.M)


@dataclass(frozen=True)
class Rung:
    kind: str  # one of RUNGS ("" for a hint written before the ladder)
    text: str


@dataclass(frozen=True)
class Hint:
    number: int
    title: str
    rungs: tuple[Rung, ...]

    @property
    def text(self) -> str:
        """The whole hint (every rung), as markdown."""
        return "\n\n".join(f"#### {r.kind}\n{r.text}" if r.kind else r.text for r in self.rungs)

    def shown(self, rungs: int) -> str:
        """The first `rungs` rungs, as markdown."""
        return Hint(self.number, self.title, self.rungs[:rungs]).text


def parse_hints(readme: str) -> list[Hint]:
    """Every `### Hint N` section up to the next heading of level 1-3."""
    hints = []
    matches = list(HINT_RE.finditer(readme))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(readme)
        body = re.split(r"^#{1,3} ", readme[m.end() : end], maxsplit=1, flags=re.M)[0]
        heads = list(RUNG_RE.finditer(body))
        if not heads:
            rungs = (Rung("", body.strip()),)
        else:
            rungs = tuple(
                Rung(h.group(1), body[h.end() : nxt.start() if nxt else len(body)].strip())
                for h, nxt in zip(heads, [*heads[1:], None], strict=True)
            )
        hints.append(Hint(int(m.group(1)), m.group(2).strip(), rungs))
    return hints


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
