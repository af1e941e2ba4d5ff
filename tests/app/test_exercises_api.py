"""The exercises through the API: lesson, files, hints, and a real check in the lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import RunningLab


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNILAB_WORKSPACE", str(tmp_path / "work"))
    return tmp_path / "work"


def test_listing_and_detail(client: FlaskClient) -> None:
    listing = client.get("/api/exercises").get_json()
    assert [e["number"] for e in listing["exercises"]][:3] == [1, 2, 3]
    assert listing["exercises"][5]["slug"] == "add"
    detail = client.get("/api/exercises/2").get_json()
    assert "<h1>" in detail["lesson_html"] and "Hint" not in detail["lesson_html"]
    assert detail["hints_html"] == [] and all(h["shown"] == 0 for h in detail["ladder"])
    by_slug = client.get("/api/exercises/add").get_json()
    assert by_slug["number"] == 6 and by_slug["slug"] == "add"
    assert {s["slug"] for s in by_slug["sources"]} >= {"tour", "ipam"}
    assert not any(s["own"] for s in by_slug["sources"])
    for missing in ("/api/exercises/99", "/api/exercises/no-such-step", "/api/exercises/..%2f"):
        assert client.get(missing).status_code == 404


def test_files_hints_and_start(client: FlaskClient, workspace: Path) -> None:
    starter = client.get("/api/exercises/6/file?which=starter").get_json()
    assert "TODO" in starter["text"]
    assert client.get("/api/exercises/6/file?which=../../etc").status_code == 400
    assert client.get("/api/exercises/6/file").get_json()["exists"] is False
    started = client.post("/api/exercises/add/start", json={}).get_json()
    assert started["copied"] and Path(started["path"]).read_text() == starter["text"]
    assert started["path"].endswith("06-add/plugin.py") and started["prepared"] is False
    first = client.post("/api/exercises/6/hint", json={}).get_json()
    assert (first["hint"], first["shown"]) == (1, 1)  # nothing failed yet: hint 1, rung 1
    assert "Concept" in first["hints_html"][0] and "Where in the API" not in first["hints_html"][0]
    second = client.post("/api/exercises/6/hint", json={"hint": 3}).get_json()
    assert (second["hint"], second["shown"]) == (3, 1) and len(second["hints_html"]) == 2
    for bad in ({"hint": 99}, {"hint": "1"}, {"hint": True}):
        assert client.post("/api/exercises/6/hint", json=bad).status_code == 400
    detail = client.get("/api/exercises/6").get_json()
    assert [h["shown"] for h in detail["ladder"]][:3] == [1, 0, 1]


def test_exercise_page_renders(client: FlaskClient) -> None:
    for path in ("/exercises/6", "/exercises/add"):
        page = client.get(path)
        assert page.status_code == 200
        assert b"ADD" in page.data


@pytest.mark.root
def test_check_fails_on_the_starter_and_passes_on_the_solution(
    lab_app: tuple[Flask, RunningLab], workspace: Path
) -> None:
    app, lab = lab_app
    client = app.test_client()
    client.post("/api/exercises/add/start", json={})
    failed = client.post("/api/exercises/6/check", json={}).get_json()
    assert failed["passed"] is False and failed["hint_number"]
    assert failed["hint_html"] == ""  # shown only when asked for
    climbed = client.post("/api/exercises/6/hint", json={}).get_json()
    assert climbed["hint"] == failed["hint_number"]  # the hint of what failed
    passed = client.post("/api/exercises/6/check", json={"which": "solution"}).get_json()
    assert passed["passed"] is True
    assert passed["own_files"] == [] and passed["reference_files"][0].endswith("solution.py")
    left = [p.name for p in lab.runtime.list() if p.name.startswith("ex06-")]
    assert sorted(left) == sorted(passed["kept"])  # only what the step declares it keeps
