"""What a step builds on: an earlier step's reference solution, loaded by its slug.

The DEL/CHECK step is not about ADD again: its file says `class Plugin(reference("add"))`
and holds only the new lesson, while the runtime still gets a complete plugin.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from types import ModuleType
from typing import Any

from lab.exercises.catalog import get_exercise


@cache
def _solution(slug: str) -> ModuleType:
    ex = get_exercise(slug)
    spec = importlib.util.spec_from_file_location(
        f"cnilab_step_{ex.slug.replace('-', '_')}", ex.solution
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: its `main()` does not run
    return module


def reference(slug: str, name: str = "Plugin") -> Any:
    """`name` (a class or function) from the step `slug`'s reference solution."""
    return getattr(_solution(slug), name)
