"""The editor's API: a save lands only over the version it was loaded as (a change on
disk is reported, never overwritten), reset and diffs, the streamed Check (each
assertion as it runs, then the verdict; a pass kept for the diff), the terminal's
info, and none of it without the token or on a read-only server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lab.exercises.catalog import get_exercise
from lab.exercises.workspace import version
from tests.app.conftest import bare_client, make_app
from tests.conftest import RunningLab

ADD = get_exercise("add")


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNILAB_WORKSPACE", str(tmp_path / "work"))
    return tmp_path / "work"


def mine(workspace: Path) -> Path:
    return workspace / ADD.folder.name / ADD.file


def test_save_only_over_the_version_loaded(client: FlaskClient, workspace: Path) -> None:
    empty = client.get("/api/editor/add").get_json()
    assert empty["exists"] is False and empty["version"] is None and empty["language"] == "python"
    made = client.post("/api/editor/add/save", json={"text": "one\n", "version": None})
    assert made.status_code == 200 and mine(workspace).read_text() == "one\n"
    v1 = made.get_json()["version"]
    assert v1 == version("one\n") == client.get("/api/editor/6").get_json()["version"]
    # null again: the file exists now, so it is not the version this editor loaded
    assert (
        client.post("/api/editor/add/save", json={"text": "x", "version": None}).status_code == 409
    )
    v2 = client.post("/api/editor/add/save", json={"text": "two\n", "version": v1}).get_json()
    assert mine(workspace).read_text() == "two\n"

    mine(workspace).write_text("changed in vim\n")  # the student's own editor
    stale = client.post("/api/editor/add/save", json={"text": "three\n", "version": v2["version"]})
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["conflict"] is True and body["disk"] == "changed in vim\n"
    assert body["version"] == version("changed in vim\n") and "changed on disk" in body["error"]
    assert mine(workspace).read_text() == "changed in vim\n"  # not overwritten
    assert stat_mode(mine(workspace)) == 0o600


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_reset_and_diffs(client: FlaskClient, workspace: Path) -> None:
    starter = ADD.starter.read_text()
    first = client.post("/api/editor/add/save", json={"text": "mine\n", "version": None})
    reset = client.post("/api/editor/add/reset", json={"version": version("other")})
    assert reset.status_code == 409 and mine(workspace).read_text() == "mine\n"
    reset = client.post("/api/editor/add/reset", json={"version": first.get_json()["version"]})
    assert reset.status_code == 200 and mine(workspace).read_text() == starter

    edited = starter.replace("TODO", "DONE", 1)
    diff = client.post("/api/editor/add/diff", json={"text": edited, "against": "starter"})
    text = diff.get_json()["diff"]
    assert text.startswith("--- starter/plugin.py") and "\n+" in text and "DONE" in text
    same = client.post("/api/editor/add/diff", json={"text": starter, "against": "starter"})
    assert same.get_json() == {"against": "starter", "exists": True, "diff": ""}
    none = client.post("/api/editor/add/diff", json={"text": edited, "against": "passed"})
    assert none.get_json()["exists"] is False
    from lab.exercises.workspace import Workspace

    Workspace().keep_passed(ADD, "passed once\n")
    passed = client.post(
        "/api/editor/add/diff", json={"text": "passed once\nmore\n", "against": "passed"}
    )
    assert passed.get_json()["diff"].endswith("+more\n")
    assert client.get("/api/editor/add").get_json()["has_passed"] is True


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/editor/99", None, 404),
        ("/api/editor/..%2f..%2fetc/save", {"text": "", "version": None}, 404),
        ("/api/editor/add/save", {"text": 5, "version": None}, 400),
        ("/api/editor/add/save", {"text": "", "version": "../../x"}, 400),
        ("/api/editor/add/diff", {"text": "", "against": "/etc/shadow"}, 400),
        ("/api/editor/add/check", {"which": "../solution"}, 400),
    ],
)
def test_bad_input_is_a_clear_error(
    client: FlaskClient, path: str, body: object, status: int, workspace: Path
) -> None:
    answer = client.post(path, json=body) if body is not None else client.get(path)
    assert answer.status_code == status and answer.get_json()["error"]
    assert not mine(workspace).exists()


def test_a_planted_link_is_replaced_never_followed(client: FlaskClient, workspace: Path) -> None:
    target = workspace.parent / "outside.txt"
    target.write_text("secret\n")
    mine(workspace).parent.mkdir(parents=True)
    mine(workspace).symlink_to(target)
    assert client.get("/api/editor/add").status_code == 409  # not read through
    saved = client.post("/api/editor/add/save", json={"text": "x", "version": None})
    assert saved.status_code == 409 and target.read_text() == "secret\n"


def test_too_big_is_refused(client: FlaskClient, workspace: Path) -> None:
    big = client.post("/api/editor/add/save", json={"text": "#" * 70_000, "version": None})
    assert big.status_code == 413 and not mine(workspace).exists()


def test_no_token_and_read_only_serve_nothing(app: Flask, tmp_path: Path, workspace: Path) -> None:
    stranger = bare_client(app)
    ro = make_app(tmp_path / "ro", READ_ONLY=True, TERMINAL={"port": 1, "max": 1}).test_client()
    for client in (stranger, ro):
        assert client.get("/api/editor/add").status_code == 403
        assert client.get("/api/terminal").status_code == 403
        for action in ("save", "reset", "diff", "check"):
            sent = client.post(f"/api/editor/add/{action}", json={"text": "x", "version": None})
            assert sent.status_code == 403, action
    assert not mine(workspace).exists()


def test_terminal_info(client: FlaskClient, tmp_path: Path) -> None:
    off = client.get("/api/terminal").get_json()
    assert off["enabled"] is False and "off" in off["reason"]
    on = make_app(tmp_path / "on", TERMINAL={"port": 4321, "max": 3}).test_client()
    info = on.get("/api/terminal").get_json()
    assert info == {"enabled": True, "port": 4321, "path": "/terminal", "max": 3, "targets": []}


def stream(client: FlaskClient, body: dict[str, object]) -> list[dict[str, object]]:
    answer = client.post("/api/editor/add/check", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]


@pytest.mark.root
def test_check_streams_each_assertion_then_the_verdict(
    lab_app: tuple[Flask, RunningLab], workspace: Path
) -> None:
    app, _ = lab_app
    client = app.test_client()
    assert client.post("/api/editor/add/check", json={}).status_code == 409  # not started
    starter = client.post(
        "/api/editor/add/save", json={"text": ADD.starter.read_text(), "version": None}
    )
    stale = client.post("/api/editor/add/check", json={"version": version("not this")})
    assert stale.status_code == 409 and stale.get_json()["conflict"] is True

    events = stream(client, {"version": starter.get_json()["version"]})
    assert events[-1]["event"] == "report" and events[-1]["passed"] is False
    steps = [e for e in events if e["event"] == "assertion"]
    first = steps[0]
    assert first["passed"] is None and first["index"] == 0  # heard at its start
    ended = [e for e in steps if e["passed"] is not None]
    assert ended[-1]["passed"] is False and ended[-1]["message"]
    assert all(e["passed"] for e in ended[:-1])
    assert len(ended) == len([a for a in events[-1]["assertions"] if a["passed"] is not None])
    assert client.get("/api/editor/add").get_json()["has_passed"] is False

    solution = ADD.solution.read_text()
    saved = client.post(
        "/api/editor/add/save", json={"text": solution, "version": starter.get_json()["version"]}
    )
    events = stream(client, {"version": saved.get_json()["version"]})
    assert events[-1]["event"] == "report" and events[-1]["passed"] is True
    assert client.get("/api/exercises/add").get_json()["passed"] is True
    diff = client.post("/api/editor/add/diff", json={"text": solution, "against": "passed"})
    assert diff.get_json() == {"against": "passed", "exists": True, "diff": ""}
