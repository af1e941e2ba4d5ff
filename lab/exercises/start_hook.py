"""A step that prepares the lab when it starts: its folder's optional start.py.

`def start(plan: Plan, workspace_dir: Path) -> None` runs after the starter is copied
(`cnilab exercise start N`, the page's Start). A troubleshooting step hides a random
fault in the lab there; it must be safe to run again. `def stop(plan: Plan) -> None`,
when there, undoes it (`cnilab exercise stop N`: giving up). A lab the step cannot be
prepared in raises StartError, whose message is for the student.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from lab.cluster.plan import Plan
from lab.exercises.catalog import Exercise


class StartError(RuntimeError):
    """The step cannot prepare this lab (e.g. a --bare lab for a troubleshooting step)."""


def has_start(ex: Exercise) -> bool:
    return ex.start_file.is_file()


def _hooks(ex: Exercise) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"cnilab_start_{ex.slug.replace('-', '_')}", ex.start_file
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_start(ex: Exercise, plan: Plan, workspace_dir: Path) -> bool:
    """Run the step's start hook; False when the step has none."""
    if not has_start(ex):
        return False
    _hooks(ex).start(plan, workspace_dir)
    return True


def run_stop(ex: Exercise, plan: Plan) -> bool:
    """Undo what the start hook prepared; False when the step has nothing to undo."""
    if not has_start(ex):
        return False
    hooks = _hooks(ex)
    if not hasattr(hooks, "stop"):
        return False
    hooks.stop(plan)
    return True
