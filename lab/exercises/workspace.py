"""The student's workspace: a copy of each starter to edit, and the progress made.

~/cnilab-work/ (or $CNILAB_WORKSPACE)
    05-add/plugin.py      copied from the starter by `cnilab exercise start 5`
    progress.json         {"current": 5, "passed": {"4": 1732270000.0}, "hints": {"5": 2}}
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from lab.exercises.catalog import Exercise

DEFAULT = Path.home() / "cnilab-work"


def workspace_dir() -> Path:
    return Path(os.environ.get("CNILAB_WORKSPACE", str(DEFAULT)))


class Workspace:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or workspace_dir()

    def file_for(self, ex: Exercise) -> Path:
        return self.root / ex.folder.name / ex.file

    def start(self, ex: Exercise) -> tuple[Path, bool]:
        """Copy the starter (never over the student's work); returns (path, copied)."""
        target = self.file_for(ex)
        copied = not target.exists()
        if copied:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ex.starter, target)
        self._update(lambda p: p.__setitem__("current", ex.number))
        return target, copied

    def progress(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / "progress.json").read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        data.setdefault("current", None)
        data.setdefault("passed", {})
        data.setdefault("hints", {})
        return data

    def record_pass(self, ex: Exercise) -> None:
        self._update(lambda p: p["passed"].setdefault(str(ex.number), round(time.time())))

    def hints_shown(self, ex: Exercise) -> int:
        return int(self.progress()["hints"].get(str(ex.number), 0))

    def unlock_hint(self, ex: Exercise) -> int:
        """Show one more hint (up to all of them); returns how many are unlocked."""
        shown = min(self.hints_shown(ex) + 1, len(ex.hints))
        self._update(lambda p: p["hints"].__setitem__(str(ex.number), shown))
        return shown

    def _update(self, change: Any) -> None:
        data = self.progress()
        change(data)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "progress.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.root / "progress.json")
