"""`cnilab exercise list | show N | start N | hint N | check N [--plugin FILE] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lab.cli.main import Exit, Lab, fail, pass_lab
from lab.exercises.catalog import Exercise, ExerciseError, all_exercises, get_exercise
from lab.exercises.workspace import Workspace


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
def list_() -> None:
    """The curriculum, with your progress."""
    progress = Workspace().progress()
    for ex in all_exercises():
        done = "x" if str(ex.number) in progress["passed"] else " "
        here = "<" if progress["current"] == ex.number else " "
        click.echo(f" [{done}] {ex.number:2}. {ex.title:46} {here} {ex.summary}")


@exercise.command("show")
@click.argument("number")
def show(number: str) -> None:
    """Print step N's lesson, and the hints unlocked so far."""
    ex = _exercise(number)
    click.echo(ex.lesson)
    shown = Workspace().hints_shown(ex)
    for i, hint in enumerate(ex.hints[:shown], 1):
        click.secho(f"Hint {i}:", bold=True)
        click.echo(hint + "\n")
    if shown < len(ex.hints):
        click.echo(f"({len(ex.hints) - shown} more hint(s): `cnilab exercise hint {ex.number}`)")


@exercise.command("hint")
@click.argument("number")
def hint(number: str) -> None:
    """Unlock the next hint of step N."""
    ex = _exercise(number)
    if not ex.hints:
        click.echo("this step has no hints")
        return
    shown = Workspace().unlock_hint(ex)
    click.secho(f"Hint {shown} of {len(ex.hints)}:", bold=True)
    click.echo(ex.hints[shown - 1])


@exercise.command("start")
@click.argument("number")
def start(number: str) -> None:
    """Copy step N's starter into your workspace (never over your work)."""
    ex = _exercise(number)
    path, copied = Workspace().start(ex)
    click.echo(f"{'created' if copied else 'kept your'} {path}")
    click.echo(f"read the lesson: cnilab exercise show {ex.number}")
    click.echo(f"when ready:      cnilab exercise check {ex.number}")


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
    report = run_check(ex, lab.require_plan(), file)
    if report.passed and not solution and plugin_file is None:
        workspace.record_pass(ex)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.secho(f"{ex.number}. {ex.title}: {file}", bold=True)
        for a in report.assertions:
            mark = {True: click.style("PASS", fg="green"), False: click.style("FAIL", fg="red")}
            click.echo(f"  {mark.get(a.passed, '  - ')}  {a.name}")
            if a.passed is False and a.message:
                click.echo(f"        {a.message}")
        if report.hint:
            click.secho(f"Hint {report.hint_number}:", bold=True)
            click.echo(report.hint)
        click.secho(
            "passed!" if report.passed else "not yet",
            fg="green" if report.passed else "red",
        )
    raise SystemExit(0 if report.passed else int(Exit.FAILED))
