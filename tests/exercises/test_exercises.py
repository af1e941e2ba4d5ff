"""Every step's check fails on its starter and passes on its reference solution, and
plugins carrying the bash plugin's bugs fail the check that is about them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import Exercise, all_exercises, get_exercise
from lab.exercises.checker import run_check

pytestmark = pytest.mark.root
EXERCISES = all_exercises()


def test_the_curriculum_is_complete() -> None:
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    assert len(EXERCISES) >= 11
    for ex in EXERCISES:
        assert ex.starter.is_file() and ex.solution.is_file() and ex.check_file.is_file()
        for section in ("## Goal", "## Background", "## What to run", "## Hints"):
            assert section in ex.readme, f"{ex.folder.name}: no {section}"
        assert ex.hints, f"{ex.folder.name} has no hints"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_check_fails_on_the_starter(plan: Plan, ex: Exercise) -> None:
    report = run_check(ex, plan, ex.starter)
    assert not report.passed
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and failed[0].message
    assert report.hint, "a failing step must point to a hint"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_check_passes_on_the_solution(plan: Plan, ex: Exercise) -> None:
    report = run_check(ex, plan, ex.solution)
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert all(a.passed for a in report.assertions)


def variant(tmp_path: Path, ex: Exercise, old: str, new: str) -> Path:
    """The reference solution with exactly one bug put back in."""
    source = ex.solution.read_text()
    assert old in source
    path = tmp_path / ex.file
    path.write_text(source.replace(old, new))
    return path


BASH_IPAM_BUGS = [
    (
        "no lock",
        "with locked(path):\n            lines = read_lines(path)\n            taken",
        "if True:\n            lines = read_lines(path)\n            taken",
        "same instant",
    ),
    (
        "broadcast",
        "range(2, subnet.num_addresses - 1)",
        "range(2, subnet.num_addresses)",
        "broadcast",
    ),
    (
        "release by pattern",
        "if line.split()[1:] != [args.container_id, args.ifname]",
        "if not line.startswith(str(self._ip_of(lines, args)))",
        "exactly one",
    ),
]


@pytest.mark.parametrize(("bug", "old", "new", "step"), BASH_IPAM_BUGS, ids=lambda v: str(v)[:20])
def test_the_bash_plugins_ipam_bugs_are_caught(
    plan: Plan, tmp_path: Path, bug: str, old: str, new: str, step: str
) -> None:
    ex = get_exercise(4)
    file = variant(tmp_path, ex, old, new)
    if bug == "release by pattern":  # free every line that starts with the released address
        text = file.read_text().replace(
            "class IPAM:",
            "class IPAM:\n    @staticmethod\n    def _ip_of(lines, args):\n"
            "        mine = [l.split()[0] for l in lines if l.split()[1:] == "
            "[args.container_id, args.ifname]]\n        return mine[0] if mine else '#'\n",
        )
        file.write_text(text)
    report = run_check(ex, plan, file)
    assert not report.passed
    failed = next(a for a in report.assertions if a.passed is False)
    assert step in failed.name, (bug, failed)
