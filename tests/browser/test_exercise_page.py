"""An exercise page in a real Chromium, beside the live graph of a real lab: start a step,
unlock a hint, check the starter (fails, with its hint) and the reference solution
(passes, its pod appears in the graph), then the student's own file (a tick in the
curriculum). The workspace is a temporary directory (conftest), never ~/cnilab-work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.exercises.catalog import get_exercise
from tests.browser.conftest import ARTIFACTS, wait_for_graph
from tests.conftest import RunningLab

pytestmark = [pytest.mark.root, pytest.mark.browser]

CHECK_TIMEOUT = 90_000  # a check makes pods and pings them: seconds, more on a busy machine


def statuses(page: Any) -> list[str]:
    return page.locator("[data-testid=assertion]").evaluate_all(
        "items => items.map(i => i.dataset.status)"
    )


def run_check(page: Any, which: str) -> Any:
    page.select_option("[data-testid=check-which]", which)
    page.click("[data-testid=check-button]")
    report = page.locator(f"[data-testid=check-report][data-which={which}]")
    report.wait_for(timeout=CHECK_TIMEOUT)
    return report


def test_follow_one_exercise(
    lab: RunningLab, serve: Callable[..., str], page: Any, workspace: Path
) -> None:
    page.goto(f"{serve()}/exercises/6")
    wait_for_graph(page)
    assert "ADD: wire a pod into the node" in page.locator("[data-testid=lesson] h1").inner_text()
    assert page.locator(".lesson .codehilite").count() >= 1  # highlighted by Pygments
    steps = page.locator("[data-testid=step]")
    assert steps.count() >= 11
    current = page.locator("[data-testid=step] a[aria-current=page]")
    assert current.get_attribute("href").endswith("/exercises/6")
    assert page.locator("[data-testid=nav-lab]").get_attribute("href") == "/"

    # not started yet: "Start this step" copies the starter into the workspace
    page.click("[data-testid=start-button]")
    page.locator("[data-testid=editor] .cm-content").wait_for(timeout=5_000)
    mine = workspace / "06-add" / "plugin.py"
    in_editor = page.evaluate("() => window.cnilab.course.editor.text")
    assert mine.is_file() and in_editor == mine.read_text() and "TODO" in in_editor

    # a hint, unlocked for good
    page.click("[data-testid=hint-button]")
    hint = page.locator("[data-testid=hint]").first
    hint.wait_for(timeout=5_000)
    assert hint.inner_text().startswith("HINT 1") and len(hint.inner_text()) > 40
    assert "2 of" in page.locator("[data-testid=hint-button]").inner_text()

    # instructor: the starter fails, and says which hint helps
    report = run_check(page, "starter")
    assert report.get_attribute("data-passed") == "false"
    seen = statuses(page)
    assert "fail" in seen and set(seen[seen.index("fail") + 1 :]) <= {"not-run"}
    page.click("[data-testid=report-hint-button]")  # the failing assertion's hint, a rung
    report_hint = page.locator("[data-testid=report-hint]")
    report_hint.wait_for(timeout=5_000)
    assert report_hint.inner_text().startswith("HINT")
    assert page.locator("[data-testid=assertion-message]").first.inner_text()
    assert "failed" in page.locator("[data-testid=check-verdict]").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "exercise-starter-failed.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")

    # the reference solution passes (step 6's check DELs the pods it made: none is kept)
    report = run_check(page, "solution")
    assert report.get_attribute("data-passed") == "true"
    assert set(statuses(page)) == {"pass"}
    assert page.locator("[data-testid=step][data-number='6'].passed").count() == 0  # not mine
    shot = ARTIFACTS / "exercise-solution-passed.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")

    # the student's own file, once it is right: passes, and step 6 gets its tick
    mine.write_text(get_exercise("add").solution.read_text())
    page.click("[data-testid=file-reload]")  # edited elsewhere: the editor reads it again
    page.wait_for_function(
        "() => !window.cnilab.course.editor.text.includes('TODO')", timeout=5_000
    )
    report = run_check(page, "workspace")
    assert report.get_attribute("data-passed") == "true"
    page.locator("[data-testid=step][data-number='6'].passed").wait_for(timeout=5_000)
    assert page.locator("[data-testid=passed-badge]").is_visible()


def test_read_only_exercise_page_has_no_action(
    lab: RunningLab, serve: Callable[..., str], page: Any
) -> None:
    page.goto(f"{serve(READ_ONLY=True)}/exercises/4")
    wait_for_graph(page)
    assert page.locator("[data-testid=read-only-badge]").is_visible()
    page.locator("[data-testid=file] p").first.wait_for(timeout=5_000)
    assert page.locator("[data-testid=lesson] h1").inner_text().startswith("4.")
    for testid in ("check-button", "check-which", "start-button", "hint-button"):
        assert page.locator(f"[data-testid={testid}]").count() == 0, testid
    assert page.locator("[data-role=action]").count() == 0
    # the graph still answers clicks: the details dock
    page.evaluate("(id) => window.cnilab.graph.select(id)", f"if:{lab.plan.nodes[0].netns}:cni0")
    assert page.locator("[data-testid=details] [data-testid=if-kind]").inner_text() == "bridge"
    page.click("[data-testid=details-close]")
    assert page.locator("#details-dock").is_hidden()

    # the bar between the step and the graph makes the graph wider
    pane = page.locator("[data-testid=graph]")
    before = pane.bounding_box()["width"]
    bar = page.locator("[data-testid=splitter]").bounding_box()
    x, y = bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 250, y, steps=5)
    page.mouse.up()
    assert pane.bounding_box()["width"] >= before + 200
