"""The API validates what comes in and answers in JSON; actions are guarded."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.conftest import bare_client, make_app
from tests.conftest import RunningLab

JSON = {"Content-Type": "application/json"}


def test_no_lab_is_a_clear_json_answer(client: FlaskClient) -> None:
    assert client.get("/api/status").get_json() == {"up": False}
    r = client.get("/api/pods")
    assert r.status_code == 409 and "cnilab up" in r.get_json()["error"]
    assert client.get("/api/calls").get_json() == []


def test_unknown_api_path_is_json_404(client: FlaskClient) -> None:
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "error" in r.get_json()


def test_read_only_refuses_every_action(tmp_path: Path) -> None:
    client = make_app(tmp_path, READ_ONLY=True).test_client()
    r = client.post("/api/pods", json={"name": "web"})
    assert r.status_code == 403 and "read-only" in r.get_json()["error"]
    assert client.delete("/api/pods/web").status_code == 403
    assert client.get("/api/status").status_code == 200


def test_token_is_required_when_set(tmp_path: Path) -> None:
    client = bare_client(make_app(tmp_path, TOKEN="s3cret"))
    assert client.post("/api/pods", json={"name": "web"}).status_code == 403
    r = client.post("/api/pods", json={"name": "web"}, headers={"X-Cnilab-Token": "wrong"})
    assert r.status_code == 403
    r = client.post("/api/pods", json={"name": "web"}, headers={"X-Cnilab-Token": "s3cret"})
    assert r.status_code == 409  # past the guard: no lab is up


def test_cross_origin_and_form_posts_are_refused(client: FlaskClient) -> None:
    r = client.post("/api/pods", json={"name": "w"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.get_json()["error"]
    r = client.post("/api/pods", json={"name": "w"}, headers={"Origin": "http://localhost"})
    assert r.status_code == 409  # this very origin: past the guards, no lab is up
    r = client.post("/api/pods", data={"name": "w"})
    assert r.status_code == 415


@pytest.mark.root
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "Bad Name"}, "invalid pod name"),
        ({"name": "x", "node": "node9"}, "unknown node"),
        ({"name": 5}, "must be a string"),
        ({"name": "x", "demo": "slow"}, "'demo' must be"),
        ({"name": "x", "ports": ["80"]}, "invalid port mapping"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_pod_requests(lab_app: tuple[Flask, RunningLab], body: object, words: str) -> None:
    app, _ = lab_app
    r = app.test_client().post("/api/pods", json=body)
    assert r.status_code == 400
    assert words in r.get_json()["error"]


@pytest.mark.root
def test_pod_lifecycle_through_the_api(lab_app: tuple[Flask, RunningLab]) -> None:
    app, lab = lab_app
    client = app.test_client()
    r = client.post("/api/pods", json={"name": "web", "node": "node2"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["attachments"][0]["result"]["ips"][0]["address"] == "10.244.1.2/24"
    assert [p["name"] for p in client.get("/api/pods").get_json()] == ["web"]
    calls = client.get("/api/calls?limit=5").get_json()
    assert calls[-1]["command"] == "ADD" and calls[-1]["env"]["CNI_IFNAME"] == "eth0"
    assert client.get("/api/calls?limit=nope").status_code == 400
    status = client.get("/api/status").get_json()
    assert status["nodes"][1]["pods"] == ["web"]
    assert client.delete("/api/pods/web").status_code == 200
    assert client.delete("/api/pods/web").status_code == 404
    assert lab.runtime.list() == []


def test_page_renders_without_a_lab(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["X-Frame-Options"] == "DENY"
