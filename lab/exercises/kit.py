"""What a step builds on: an earlier step's reference solution, loaded by its number.

Step 9 is about DEL and CHECK, not ADD again: its file says `class Plugin(reference(5))`
and holds only the new lesson, while the runtime still gets a complete plugin.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from types import ModuleType
from typing import Any

from lab.exercises.catalog import get_exercise


@cache
def _solution(number: int) -> ModuleType:
    ex = get_exercise(number)
    spec = importlib.util.spec_from_file_location(f"cnilab_step{number:02d}", ex.solution)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: its `main()` does not run
    return module


def reference(number: int, name: str = "Plugin") -> Any:
    """`name` (a class or function) from step `number`'s reference solution."""
    return getattr(_solution(number), name)
