"""A student's crash, told as a teacher would: what was raised, on which line of their file.

A plugin that raises runs through skel (which logs the traceback to stderr and
answers error 999) or dies before it (a syntax error: Python prints the traceback and
exits 1). Either way the journal holds the stderr; the last traceback in it, read
for the deepest frame in the student's file, is the line to show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FRAME_RE = re.compile(r'^  File "([^"]+)", line (\d+), in ([^\n]+)\n(?:    ([^\n]*)\n)?', re.M)
SYNTAX_RE = re.compile(r'^  File "([^"]+)", line (\d+)\n(?:    ([^\n]*)\n)?', re.M)
TRACEBACK = "Traceback (most recent call last):"
# How the runtime and the invoker name a plugin by its type in their messages.
TYPE_NAMES = re.compile(
    r"plugin type='([a-z0-9_.-]+)'|plugin ([a-z0-9_.-]+)(?= (?:failed|printed))"
)


@dataclass(frozen=True)
class Crash:
    file: str
    line: int
    function: str
    source: str
    exception: str  # "NameError: name 'x' is not defined"

    def describe(self, label: str) -> str:
        where = f"line {self.line}" + (f", in {self.function}" if self.function else "")
        code = f": {self.source.strip()}" if self.source.strip() else ""
        return f"{label} raised {self.exception} at {where}{code}"


def _exception_line(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(" ") and not line.startswith(TRACEBACK):
            return line.strip()[:300]
    return "an exception"


def crash_in(stderr: str, files: Iterable[str]) -> Crash | None:
    """The deepest frame in one of `files` of the last traceback in `stderr`."""
    mine = {str(Path(f).resolve()) for f in files}
    if TRACEBACK not in stderr and "SyntaxError" not in stderr:
        return None
    block = stderr[stderr.rfind(TRACEBACK) :] if TRACEBACK in stderr else stderr
    frames = [m for m in FRAME_RE.finditer(block) if str(Path(m.group(1)).resolve()) in mine]
    exception = _exception_line(block)
    if frames:
        m = frames[-1]
        return Crash(m.group(1), int(m.group(2)), m.group(3), m.group(4) or "", exception)
    for m in SYNTAX_RE.finditer(block):  # a SyntaxError's frame has no function
        if str(Path(m.group(1)).resolve()) in mine:
            return Crash(m.group(1), int(m.group(2)), "", m.group(3) or "", exception)
    return None


def crash_since(journal: Path, offset: int, files: Iterable[str]) -> Crash | None:
    """The last crash in the student's files among the calls journaled after `offset`."""
    files = list(files)
    try:
        with journal.open("rb") as f:
            f.seek(offset)
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    for raw in reversed(lines):
        try:
            stderr = json.loads(raw).get("stderr", "")
        except (ValueError, AttributeError):
            continue
        found = crash_in(stderr, files) if isinstance(stderr, str) else None
        if found is not None:
            return found
    return None


def name_the_plugin(message: str, labels: dict[str, str]) -> str:
    """`plugin type='pycni' ADD: ...` -> `plugin.py (yours) ADD: ...` for the types the
    check ran from a student's (or an earlier step's) file."""

    def swap(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return labels.get(name, m.group(0))

    return TYPE_NAMES.sub(swap, message)
