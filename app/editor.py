"""The editor in the course page: the student's file with its version, saved only over
the version it was loaded from (409 otherwise: they may also use an editor of their
own), reset to the starter, and diffed against the starter or the version that last
passed. Every route needs the token; read-only serves none of them (app.security)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

from app.body import json_body, text
from app.errors import APIError
from lab.exercises.catalog import Exercise, ExerciseError, get_exercise
from lab.exercises.workspace import StaleVersion, Workspace, WorkspaceError, version

bp = Blueprint("editor", __name__, url_prefix="/api/editor")
LANGUAGES = {".py": "python", ".json": "json", ".conflist": "json", ".toml": "toml"}
AGAINST = ("starter", "passed")


def exercise(step: str) -> Exercise:
    try:
        return get_exercise(step)
    except ExerciseError as e:
        raise APIError(str(e), 404) from e


def read_mine(workspace: Workspace, ex: Exercise) -> str | None:
    try:
        return workspace.read(ex)
    except WorkspaceError as e:
        raise APIError(f"cannot open your file: {e.strerror}", 409) from None


def expected_version(body: dict[str, Any]) -> str | None:
    given = body.get("version")
    if given is not None and (not isinstance(given, str) or len(given) != 64):
        raise APIError("'version' must be the version the file was loaded as, or null")
    return given


def file_state(workspace: Workspace, ex: Exercise, found: str | None) -> dict[str, Any]:
    return {
        "path": str(workspace.file_for(ex)),
        "file": ex.file,
        "language": LANGUAGES.get(Path(ex.file).suffix, "text"),
        "exists": found is not None,
        "text": found if found is not None else "",
        "version": version(found),
        "has_passed": workspace.passed_text(ex) is not None,
    }


def conflict(workspace: Workspace, ex: Exercise, e: StaleVersion) -> Any:
    on_disk = read_mine(workspace, ex)
    body = {"error": f"{e.strerror}: not saved", "conflict": True, "disk": on_disk}
    return jsonify({**body, "version": version(on_disk)}), 409


def write(ex: Exercise, new_text: str, expected: str | None) -> Any:
    workspace = Workspace()
    try:
        saved = workspace.write(ex, new_text, expected)
    except StaleVersion as e:
        return conflict(workspace, ex, e)
    except WorkspaceError as e:
        raise APIError(f"cannot save your file: {e.strerror}", 409) from None
    return jsonify({"version": saved, "path": str(workspace.file_for(ex))})


@bp.get("/<step>")
def load(step: str) -> Any:
    ex = exercise(step)
    workspace = Workspace()
    return jsonify(file_state(workspace, ex, read_mine(workspace, ex)))


@bp.post("/<step>/save")
def save(step: str) -> Any:
    """`{"text", "version"}`: saved only if the file on disk is still `version`."""
    body = json_body()
    return write(exercise(step), text(body, "text"), expected_version(body))


@bp.post("/<step>/reset")
def reset(step: str) -> Any:
    """Back to the starter, with the same guard as a save (`{"version"}`)."""
    ex = exercise(step)
    return write(ex, ex.starter.read_text(), expected_version(json_body()))


@bp.post("/<step>/diff")
def diff(step: str) -> Any:
    """`{"text", "against": "starter"|"passed"}`: a unified diff from that to `text`."""
    ex = exercise(step)
    body = json_body()
    against = text(body, "against", "starter")
    if against not in AGAINST:
        raise APIError(f"'against' must be one of {', '.join(AGAINST)}")
    base = ex.starter.read_text() if against == "starter" else Workspace().passed_text(ex)
    if base is None:
        return jsonify({"against": against, "exists": False, "diff": ""})
    lines = difflib.unified_diff(
        base.splitlines(keepends=True),
        text(body, "text").splitlines(keepends=True),
        fromfile=f"{against}/{ex.file}",
        tofile=f"yours/{ex.file}",
    )
    return jsonify({"against": against, "exists": True, "diff": "".join(lines)})
