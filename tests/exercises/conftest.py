"""What every step's tests share: one lab for the module, and one-bug variants of a
step's reference solution (the mistakes students really make), which its check must
reject at the assertion that is about them, pointing to that assertion's hint."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.cluster import build
from lab.cluster.plan import Plan, make_plan
from lab.exercises.catalog import Exercise
from lab.exercises.checker import Report


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    state = tmp_path_factory.mktemp("exercise-lab")
    made = build.up(make_plan(2, prefix=f"px{uuid.uuid4().hex[:6]}", state_dir=state))
    try:
        yield made
    finally:
        build.down(made)


@dataclass(frozen=True)
class Mutant:
    """The solution with `old` replaced by `new` (each must occur exactly once)."""

    name: str
    edits: tuple[tuple[str, str], ...]
    caught_by: str  # a substring of the name of the assertion that must fail

    def __str__(self) -> str:
        return self.name


def mutant(name: str, old: str, new: str, caught_by: str, *more: tuple[str, str]) -> Mutant:
    return Mutant(name, ((old, new), *more), caught_by)


def write_mutant(tmp_path: Path, ex: Exercise, m: Mutant) -> Path:
    source = ex.solution.read_text()
    for old, new in m.edits:
        assert source.count(old) == 1, f"{m.name}: {old!r} occurs {source.count(old)} times"
        source = source.replace(old, new)
    path = tmp_path / ex.file
    path.write_text(source)
    return path


def assert_rejected(report: Report, m: Mutant) -> None:
    """Failed at the assertion about the bug, and that assertion points to a hint."""
    assert not report.passed, f"{m.name} passed the check"
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1, failed
    assert m.caught_by in failed[0].name, (m.name, failed[0])
    assert failed[0].message
    assert failed[0].hint, f"{m.name}: the failing assertion {failed[0].name!r} has no hint"
