"""The curriculum as a whole: every step is complete, its hints are ladders, its check
fails on its starter and passes on its reference solution, and a check leaves nothing
in the lab but the pods it declares it keeps."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.cluster.plan import Plan
from lab.exercises.catalog import RUNGS, Exercise, all_exercises
from lab.exercises.checker import run_check
from lab.exercises.start_hook import run_start, run_stop
from lab.kernel.netns import list_netns

pytestmark = pytest.mark.root
EXERCISES = all_exercises()
CODE_FENCE = re.compile(r"^\s*(```|~~~)", re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")  # code, when it holds a call or an `=`


def test_the_curriculum_is_complete() -> None:
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    assert len(EXERCISES) >= 15
    for ex in EXERCISES:
        assert ex.starter.is_file() and ex.solution.is_file() and ex.check_file.is_file()
        for section in (
            "## Goal",
            "## Background",
            "## What to run",
            "## What to look for in the graph",
            "## Hints",
        ):
            assert section in ex.readme, f"{ex.folder.name}: no {section}"
        assert ex.hints, f"{ex.folder.name} has no hints"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_every_hint_is_a_ladder_and_only_its_last_rung_shows_code(ex: Exercise) -> None:
    assert [h.number for h in ex.hints] == list(range(1, len(ex.hints) + 1))
    for hint in ex.hints:
        where = f"{ex.folder.name} hint {hint.number}"
        assert hint.title, f"{where}: write `### Hint {hint.number}: <short title>`"
        assert tuple(r.kind for r in hint.rungs) == RUNGS, f"{where}: rungs {hint.rungs}"
        for rung in hint.rungs:
            assert rung.text, f"{where}: the {rung.kind} rung is empty"
            if rung.kind != "Code":
                assert not CODE_FENCE.search(rung.text), f"{where}: code in {rung.kind}"
                found = [x for x in INLINE_CODE.findall(rung.text) if re.search(r"[(=]", x)]
                assert not found, f"{where}: code in {rung.kind}: {found}"


def _left_over(plan: Plan) -> dict[str, set[str]]:
    """What could be left behind: namespaces, node links, check folders, /tmp folders."""
    links = {}
    for node in plan.nodes:
        argv = ["nsenter", f"--net={node.netns_path}", "--", "ip", "-j", "link"]
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        links[node.name] = {x["ifname"] for x in json.loads(out or "[]")}
    checks = Path(plan.state_dir, "checks")
    return {
        "netns": {ns for ns in list_netns() if ns.startswith(plan.prefix)},  # not others' labs
        "links": {f"{n}/{i}" for n, names in links.items() for i in names},
        "folders": {p.name for p in checks.iterdir()} if checks.is_dir() else set(),
        "scratch": {p.name for p in Path(plan.state_dir, "scratch").glob("*")},
        "tmp": {p.name for p in Path("/tmp").glob("cnilab-ex*")},
    }


@contextmanager
def started(ex: Exercise, plan: Plan, workspace_dir: Path) -> Iterator[None]:
    """The step as a student meets it: its start hook run (a troubleshooting step hides
    its fault), and undone afterwards, so a failing check leaves no fault to the next."""
    run_start(ex, plan, workspace_dir)
    try:
        yield
    finally:
        run_stop(ex, plan)


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_check_fails_on_the_starter(plan: Plan, ex: Exercise, tmp_path: Path) -> None:
    with started(ex, plan, tmp_path):
        report = run_check(ex, plan, ex.starter)
    assert not report.passed
    failed = [a for a in report.assertions if a.passed is False]
    assert len(failed) == 1 and failed[0].message
    assert report.hint_number, "a failing step must point to a hint"
    assert "Traceback" not in failed[0].message


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.folder.name)
def test_check_passes_on_the_solution_and_leaves_only_what_it_keeps(
    plan: Plan, ex: Exercise, tmp_path: Path
) -> None:
    before = _left_over(plan)
    seen: list[tuple[str, bool | None]] = []
    with started(ex, plan, tmp_path):
        report = run_check(
            ex, plan, ex.solution, progress=lambda a: seen.append((a.name, a.passed))
        )
    assert report.passed, [a for a in report.assertions if not a.passed]
    assert all(a.passed for a in report.assertions)
    assert seen == [x for a in report.assertions for x in ((a.name, None), (a.name, True))]
    after = _left_over(plan)
    kept = {plan.pod_netns(name) for name in report.kept}
    assert after["netns"] - before["netns"] <= kept, "namespaces left behind"
    new_links = after["links"] - before["links"]
    if not kept:
        assert not new_links, f"links left on the nodes: {new_links}"
    for what in ("folders", "scratch", "tmp"):
        assert after[what] <= before[what], f"{what} left behind: {after[what] - before[what]}"
