"""Check, streamed: each assertion as it starts and ends, then the verdict, as lines of
JSON (application/x-ndjson) the page reads while the check runs in the lab.

The page saves first and sends the version it saved: a file changed on disk since is
not checked (409), so the verdict is about the text the student sees. The first line
says where the check runs (app.checkplace: the embedded lab, or one inside node1 on
the Vagrant lab, made on demand); `GET /api/editor/<step>/where` says it before. The check runs
in a thread of its own and finishes (and cleans up its pods) even if the page leaves;
one check at a time, since checks share the lab. A pass keeps that text as "the
version that last passed" for the editor's diff.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app.body import json_body, text
from app.checkplace import CheckPlace, place_of, plan_for
from app.editor import conflict, exercise, expected_version, read_mine
from app.errors import APIError
from lab.cluster.build import LabError
from lab.exercises.catalog import Exercise
from lab.exercises.workspace import StaleVersion, Workspace, version

bp = Blueprint("checkrun", __name__, url_prefix="/api/editor")
WHICH = ("workspace", "starter", "solution")
RUNNING = threading.Lock()
DONE = object()


def run(
    ex: Exercise,
    path: Path,
    which: str,
    checked: str | None,
    place: CheckPlace,
    out: queue.Queue[Any],
) -> None:
    from lab.exercises.checker import run_check

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    workspace = Workspace()
    index: dict[int, int] = {}

    def progress(a: Any) -> None:
        n = index.setdefault(id(a), len(index))
        out.put({"event": "assertion", "index": n, **asdict(a)})

    def work() -> None:
        try:
            try:
                with app.app_context():
                    plan, made = plan_for(place)
            except (LabError, OSError) as e:
                app.logger.error("no lab for the check of step %s", ex.number, exc_info=e)
                where = f"inside {place.node}" if place.node else "here"
                out.put({"event": "error", "error": f"cannot make the embedded lab {where}: {e}"})
                return
            if made:
                out.put({"event": "prepared", "text": f"made the embedded lab inside {place.node}"})
            report = run_check(ex, plan, path, workspace=workspace, progress=progress)
            if which == "workspace" and checked is not None:
                workspace.record_check(ex, report.passed, report.hint_number, checked)
            out.put({"event": "report", **report.to_dict()})
        except Exception as e:  # the stream must end with a word, never hang
            app.logger.error("check of step %s failed", ex.number, exc_info=e)
            out.put({"event": "error", "error": "the check itself failed: see the server's log"})
        finally:
            out.put(DONE)
            RUNNING.release()

    threading.Thread(target=work, name=f"check-{ex.slug}", daemon=True).start()


@bp.post("/<step>/check")
def check(step: str) -> Any:
    """`{"which", "version"}`: check that file (the student's: at that version)."""
    ex = exercise(step)
    body = json_body(optional=True)
    which = text(body, "which", "workspace")
    if which not in WHICH:
        raise APIError(f"'which' must be one of {', '.join(WHICH)}")
    place = place_of(ex)
    workspace = Workspace()
    checked = None
    if which == "workspace":
        checked = read_mine(workspace, ex)
        if checked is None:
            raise APIError("you have not started this step: there is no file to check", 409)
        expected = expected_version(body)
        if expected is not None and version(checked) != expected:
            return conflict(workspace, ex, StaleVersion(0, "your file changed on disk"))
    path = workspace.file_for(ex) if which == "workspace" else getattr(ex, which)
    if not RUNNING.acquire(blocking=False):
        raise APIError("a check is running already: wait for its verdict", 409)
    out: queue.Queue[Any] = queue.Queue()
    out.put({"event": "where", **place.to_dict()})
    try:
        run(ex, path, which, checked, place, out)
    except BaseException:
        RUNNING.release()
        raise

    def lines() -> Iterator[bytes]:
        while (item := out.get()) is not DONE:
            yield json.dumps(item).encode() + b"\n"

    response = Response(lines(), mimetype="application/x-ndjson")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.get("/<step>/where")
def where(step: str) -> Any:
    """Where this step's check would run now (the page shows it beside Check)."""
    return jsonify(place_of(exercise(step)).to_dict())
