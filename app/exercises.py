"""Exercises in the browser: the lesson, the student's file, Check, hints, progress.

Checks run the student's workspace file (or, for an instructor, the starter or the
reference solution) in the live lab, exactly as `cnilab exercise check` does.
"""

from __future__ import annotations

from typing import Any

import markdown
from flask import Blueprint, current_app, jsonify, render_template, request

from app.body import json_body, text
from app.errors import APIError
from app.labstate import get_lab
from lab.exercises.catalog import Exercise, ExerciseError, all_exercises, get_exercise
from lab.exercises.workspace import Workspace, WorkspaceError

bp = Blueprint("exercises", __name__)
WHICH = ("workspace", "starter", "solution")


def _exercise(step: int | str) -> Exercise:
    """A step by number or slug (`/api/exercises/6` or `/api/exercises/add`)."""
    try:
        return get_exercise(step)
    except ExerciseError as e:
        raise APIError(str(e), 404) from e


def render_markdown(text: str) -> str:
    """Lessons are our own files; code blocks are highlighted by Pygments."""
    return markdown.markdown(
        text, extensions=["fenced_code", "tables", "codehilite"], output_format="html"
    )


def _summary(ex: Exercise, progress: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": ex.number,
        "slug": ex.slug,
        "title": ex.title,
        "summary": ex.summary,
        "file": ex.file,
        "passed": ex.slug in progress["passed"],
        "hints": len(ex.hints),
    }


def _hints(ex: Exercise, workspace: Workspace) -> dict[str, Any]:
    """The rungs the student asked for, and which hint the last failure points to."""
    shown = workspace.rungs_shown(ex)
    ladder = [
        {
            "number": h.number,
            "title": h.title,
            "rungs": len(h.rungs),
            "shown": shown.get(h.number, 0),
            "html": render_markdown(h.shown(shown[h.number])) if h.number in shown else "",
        }
        for h in ex.hints
    ]
    return {
        "ladder": ladder,
        "hints_html": [h["html"] for h in ladder if h["shown"]],
        "next_hint": workspace.hint_to_climb(ex),
    }


@bp.get("/exercises/")
@bp.get("/exercises/<step>")
def page(step: str | None = None) -> str:
    exercises = all_exercises()
    current = _exercise(step) if step is not None else exercises[0]
    return render_template(
        "exercise.html",
        exercise=current,
        exercises=exercises,
        lesson=render_markdown(current.lesson),
        read_only=current_app.config["READ_ONLY"],
        lab_up=get_lab().plan() is not None,
    )


@bp.get("/api/exercises")
def listing() -> Any:
    progress = Workspace().progress()
    return jsonify(
        {
            "current": progress["current"],
            "exercises": [_summary(ex, progress) for ex in all_exercises()],
        }
    )


@bp.get("/api/exercises/<step>")
def detail(step: str) -> Any:
    ex = _exercise(step)
    workspace = Workspace()
    return jsonify(
        {
            **_summary(ex, workspace.progress()),
            "lesson_html": render_markdown(ex.lesson),
            **_hints(ex, workspace),
            "workspace_file": str(workspace.file_for(ex)),
            "sources": workspace.sources(ex),
        }
    )


def _path(ex: Exercise, which: str) -> Any:
    if which not in WHICH:
        raise APIError(f"'which' must be one of {', '.join(WHICH)}")
    if which == "workspace":
        return Workspace().file_for(ex)
    return ex.starter if which == "starter" else ex.solution


@bp.get("/api/exercises/<step>/file")
def file(step: str) -> Any:
    ex = _exercise(step)
    which = request.args.get("which", "workspace")
    path = _path(ex, which)
    try:
        found = Workspace().read(ex) if which == "workspace" else path.read_text()
    except WorkspaceError as e:
        raise APIError(f"cannot open your file: {e.strerror}", 409) from None
    return jsonify({"path": str(path), "exists": found is not None, "text": found or ""})


@bp.post("/api/exercises/<step>/start")
def start(step: str) -> Any:
    """Copy the starter; a step with a start hook also prepares the lab (it must be up)."""
    from lab.exercises.start_hook import StartError, has_start, run_start

    ex = _exercise(step)
    workspace = Workspace()
    plan = get_lab().plan()
    if has_start(ex) and plan is None:
        raise APIError("this step prepares the lab: bring it up first (cnilab up)", 409)
    try:
        path, copied = workspace.start(ex)
    except WorkspaceError as e:
        raise APIError(f"cannot use your workspace: {e.strerror}", 409) from None
    try:
        prepared = run_start(ex, plan, path.parent) if plan is not None else False
    except StartError as e:
        raise APIError(f"cannot prepare the lab for this step: {e}", 409) from None
    return jsonify(
        {
            "path": str(path),
            "copied": copied,
            "prepared": prepared,
            "sources": workspace.sources(ex),
        }
    )


@bp.post("/api/exercises/<step>/hint")
def hint(step: str) -> Any:
    """The next rung of a hint: `{"hint": N}`, else the one the last failure points to."""
    ex = _exercise(step)
    if not ex.hints:
        raise APIError("this step has no hints")
    body = json_body(optional=True)
    number = body.get("hint") if isinstance(body, dict) else None
    if number is not None and (type(number) is not int or ex.hint(number) is None):
        raise APIError(f"'hint' must be a hint number of this step (1-{len(ex.hints)})")
    workspace = Workspace()
    try:
        climbed, rungs = workspace.next_rung(ex, number)
    except WorkspaceError as e:
        raise APIError(f"cannot use your workspace: {e.strerror}", 409) from None
    return jsonify({"hint": climbed, "shown": rungs, **_hints(ex, workspace)})


@bp.post("/api/exercises/<step>/check")
def check(step: str) -> Any:
    from lab.exercises.checker import run_check

    ex = _exercise(step)
    which = text(json_body(optional=True), "which", "workspace")
    path = _path(ex, which)
    workspace = Workspace()
    checked = workspace.read(ex) if which == "workspace" else None
    report = run_check(ex, get_lab().require_plan(), path, workspace=workspace)
    if which == "workspace":
        workspace.record_check(ex, report.passed, report.hint_number, checked)
    data = report.to_dict()
    data["hint_html"] = ""  # a hint is shown only when asked for (POST .../hint)
    return jsonify(data)
