"""`cnilab exercise list | show N | start N | hint N | check N [--plugin FILE] [--json]`.

N is a step's number or its slug (`6` or `add`): slugs survive renumbering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lab.cli.main import Exit, Lab, fail, pass_lab
from lab.exercises.catalog import Exercise, ExerciseError, all_exercises, get_exercise
from lab.exercises.workspace import Workspace, WorkspaceError

if TYPE_CHECKING:
    from lab.exercises.checker import Report


def _exercise(number: str) -> Exercise:
    try:
        return get_exercise(number)
    except ExerciseError as e:
        fail(str(e), Exit.USAGE)
    raise AssertionError


@click.group()
def exercise() -> None:
    """Write a CNI plugin step by step; each step is checked in the lab."""


@exercise.command("list")
@click.option("--json", "as_json", is_flag=True, help="number, slug, title, passed per step.")
def list_steps(as_json: bool) -> None:
    """The curriculum, with your progress."""
    progress = Workspace().progress()
    steps = [
        {
            "number": ex.number,
            "slug": ex.slug,
            "title": ex.title,
            "passed": ex.slug in progress["passed"],
            "current": progress["current"] == ex.slug,
        }
        for ex in all_exercises()
    ]
    if as_json:
        click.echo(json.dumps(steps, indent=2))
        return
    for ex, step in zip(all_exercises(), steps, strict=True):
        done = "x" if step["passed"] else " "
        here = "<" if step["current"] else " "
        click.echo(f" [{done}] {ex.number:2}. {ex.slug:12} {ex.title:46} {here} {ex.summary}")


@exercise.command("show")
@click.argument("number")
def show(number: str) -> None:
    """Print step N's lesson, and the hint rungs you asked for so far."""
    ex = _exercise(number)
    click.echo(ex.lesson)
    shown = Workspace().rungs_shown(ex)
    for n, rungs in sorted(shown.items()):
        hint = ex.hint(n)
        assert hint is not None
        click.secho(f"Hint {n}: {hint.title}".rstrip(": "), bold=True)
        click.echo(hint.shown(rungs) + "\n")
    if ex.hints:
        click.echo(
            f"({len(ex.hints)} hint(s), one rung at a time: `cnilab exercise hint {ex.slug}`)"
        )


@exercise.command("hint")
@click.argument("number")
@click.option(
    "--hint",
    "which",
    type=int,
    help="Climb this hint (default: the one of the assertion that failed last).",
)
def hint(number: str, which: int | None) -> None:
    """Show the next rung of the hint about the assertion that failed last."""
    ex = _exercise(number)
    if not ex.hints:
        click.echo("this step has no hints")
        return
    try:
        n, rungs = Workspace().next_rung(ex, which)
    except WorkspaceError as e:
        fail(e.strerror or str(e), Exit.USAGE)
    found = ex.hint(n)
    assert found is not None
    rung = found.rungs[rungs - 1]
    title = f"Hint {n}: {found.title}".rstrip(": ")
    click.secho(f"{title} ({rung.kind or 'rung'} {rungs} of {len(found.rungs)})", bold=True)
    click.echo(rung.text)
    if rungs < len(found.rungs):
        click.echo(f"(next rung: `cnilab exercise hint {ex.slug}` again)")


@exercise.command("start")
@click.argument("number")
@pass_lab
def start(lab: Lab, number: str) -> None:
    """Copy step N's starter into your workspace (never over your work); any step can
    be a starting point: what it builds on comes from the reference when not yours."""
    from lab.exercises.start_hook import StartError, has_start, run_start

    ex = _exercise(number)
    workspace = Workspace()
    try:
        path, copied = workspace.start(ex)
        sources = workspace.sources(ex)
    except WorkspaceError as e:
        fail(f"cannot use your workspace: {e.strerror}", Exit.FAILED)
    click.echo(f"{'created' if copied else 'kept your'} {path}")
    own = [s for s in sources if s["own"]]
    ref = [s for s in sources if not s["own"]]
    if own:
        click.echo("your own files from earlier steps: " + ", ".join(s["path"] for s in own))
    if ref:
        names = ", ".join(f"{s['number']}-{s['slug']}" for s in ref)
        click.echo(f"earlier steps taken from the reference: {names}")
    if has_start(ex):
        plan = lab.plan()
        if plan is None:
            fail(f"this step prepares the lab: `cnilab up`, then `cnilab exercise start {ex.slug}`")
        try:
            run_start(ex, plan, path.parent)  # type: ignore[arg-type]
        except StartError as e:
            fail(f"cannot prepare the lab for this step: {e}")
        click.echo("the lab is prepared for this step")
    click.echo(f"read the lesson: cnilab exercise show {ex.slug}")
    click.echo(f"when ready:      cnilab exercise check {ex.slug}")


@exercise.command("check")
@click.argument("number")
@click.option(
    "--plugin",
    "plugin_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check this file (default: your workspace copy).",
)
@click.option("--solution", is_flag=True, help="Check the reference solution (instructors).")
@click.option("--json", "as_json", is_flag=True)
@pass_lab
def check(lab: Lab, number: str, plugin_file: Path | None, solution: bool, as_json: bool) -> None:
    """Run step N's check against your file in the lab."""
    from lab.exercises.checker import run_check

    ex = _exercise(number)
    workspace = Workspace()
    file = ex.solution if solution else plugin_file or workspace.file_for(ex)
    plan = lab.require_plan()

    def progress(a: object) -> None:
        if not as_json and getattr(a, "passed", True) is None:
            click.echo(f"  ....  {getattr(a, 'name', '')}\r", nl=False)

    own = not solution and plugin_file is None  # progress is about the student's own file
    checked = workspace.read(ex) if own else None
    report = run_check(ex, plan, file, workspace=workspace, progress=progress)
    if own:
        workspace.record_check(ex, report.passed, report.hint_number, checked)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(ex, file, report)
    raise SystemExit(0 if report.passed else int(Exit.FAILED))


def _print_report(ex: Exercise, file: Path, report: Report) -> None:
    click.secho(f"{ex.number}. {ex.title}: {file}", bold=True)
    if report.reference_files:
        click.echo("  built on the reference: " + ", ".join(report.reference_files))
    for a in report.assertions:
        mark = {True: click.style("PASS", fg="green"), False: click.style("FAIL", fg="red")}
        click.echo(f"  {mark.get(a.passed, '  - ')}  {a.name}")
        if a.passed is False and a.message:
            for line in a.message.splitlines():
                click.echo(f"        {line}")
    if report.kept:
        click.echo("  left in the lab for the graph: " + ", ".join(report.kept))
    if report.hint_number:
        title = f": {report.hint_title}" if report.hint_title else ""
        click.echo(
            f"stuck? hint {report.hint_number}{title} is about this: "
            f"`cnilab exercise hint {ex.slug}` (one rung at a time)"
        )
    click.secho(
        "passed!" if report.passed else "not yet",
        fg="green" if report.passed else "red",
    )


@exercise.command("stop")
@click.argument("number")
@pass_lab
def stop(lab: Lab, number: str) -> None:
    """Give up on a step that prepared the lab (a hidden fault): undo what it did."""
    from lab.exercises.start_hook import run_stop

    ex = _exercise(number)
    plan = lab.require_plan()
    if run_stop(ex, plan):
        click.echo(f"step {ex.number} ({ex.slug}): the lab is as it was before the step")
    else:
        click.echo(f"step {ex.number} ({ex.slug}) prepares nothing in the lab: nothing to undo")
