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


def _exercise(number: int) -> Exercise:
    try:
        return get_exercise(number)
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
        "title": ex.title,
        "summary": ex.summary,
        "file": ex.file,
        "passed": str(ex.number) in progress["passed"],
        "hints": len(ex.hints),
    }


@bp.get("/exercises/")
@bp.get("/exercises/<int:number>")
def page(number: int | None = None) -> str:
    exercises = all_exercises()
    current = _exercise(number) if number is not None else exercises[0]
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


@bp.get("/api/exercises/<int:number>")
def detail(number: int) -> Any:
    ex = _exercise(number)
    workspace = Workspace()
    shown = workspace.hints_shown(ex)
    return jsonify(
        {
            **_summary(ex, workspace.progress()),
            "lesson_html": render_markdown(ex.lesson),
            "hints_html": [render_markdown(h) for h in ex.hints[:shown]],
            "workspace_file": str(workspace.file_for(ex)),
        }
    )


def _path(ex: Exercise, which: str) -> Any:
    if which not in WHICH:
        raise APIError(f"'which' must be one of {', '.join(WHICH)}")
    if which == "workspace":
        return Workspace().file_for(ex)
    return ex.starter if which == "starter" else ex.solution


@bp.get("/api/exercises/<int:number>/file")
def file(number: int) -> Any:
    ex = _exercise(number)
    which = request.args.get("which", "workspace")
    path = _path(ex, which)
    try:
        found = Workspace().read(ex) if which == "workspace" else path.read_text()
    except WorkspaceError as e:
        raise APIError(f"cannot open your file: {e.strerror}", 409) from None
    return jsonify({"path": str(path), "exists": found is not None, "text": found or ""})


@bp.post("/api/exercises/<int:number>/start")
def start(number: int) -> Any:
    path, copied = Workspace().start(_exercise(number))
    return jsonify({"path": str(path), "copied": copied})


@bp.post("/api/exercises/<int:number>/hint")
def hint(number: int) -> Any:
    ex = _exercise(number)
    if not ex.hints:
        raise APIError("this step has no hints")
    shown = Workspace().unlock_hint(ex)
    return jsonify({"shown": shown, "hints_html": [render_markdown(h) for h in ex.hints[:shown]]})


@bp.post("/api/exercises/<int:number>/check")
def check(number: int) -> Any:
    from lab.exercises.checker import run_check

    ex = _exercise(number)
    which = text(json_body(optional=True), "which", "workspace")
    path = _path(ex, which)
    report = run_check(ex, get_lab().require_plan(), path)
    if report.passed and which == "workspace":
        Workspace().record_pass(ex)
    data = report.to_dict()
    data["hint_html"] = render_markdown(report.hint) if report.hint else ""
    return jsonify(data)
