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
    detail = client.get("/api/exercises/2").get_json()
    assert "<h1>" in detail["lesson_html"] and "Hint" not in detail["lesson_html"]
    assert detail["hints_html"] == []
    assert client.get("/api/exercises/99").status_code == 404


def test_files_hints_and_start(client: FlaskClient, workspace: Path) -> None:
    starter = client.get("/api/exercises/5/file?which=starter").get_json()
    assert "TODO" in starter["text"]
    assert client.get("/api/exercises/5/file?which=../../etc").status_code == 400
    assert client.get("/api/exercises/5/file").get_json()["exists"] is False
    started = client.post("/api/exercises/5/start", json={}).get_json()
    assert started["copied"] and Path(started["path"]).read_text() == starter["text"]
    shown = client.post("/api/exercises/5/hint", json={}).get_json()
    assert shown["shown"] == 1 and "veth" in shown["hints_html"][0]


def test_exercise_page_renders(client: FlaskClient) -> None:
    page = client.get("/exercises/5")
    assert page.status_code == 200
    assert b"ADD: wire a pod into the node" in page.data


@pytest.mark.root
def test_check_fails_on_the_starter_and_passes_on_the_solution(
    lab_app: tuple[Flask, RunningLab],
) -> None:
    app, lab = lab_app
    client = app.test_client()
    failed = client.post("/api/exercises/5/check", json={"which": "starter"}).get_json()
    assert failed["passed"] is False and failed["hint_html"]
    passed = client.post("/api/exercises/5/check", json={"which": "solution"}).get_json()
    assert passed["passed"] is True
    assert lab.runtime.get("ex05-a") is not None  # left in the lab, for the graph
