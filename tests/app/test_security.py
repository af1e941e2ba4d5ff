"""Each attack on the web app, tried as an attacker would: a rebound Host, no token,
a read-only screen asked for secrets, a path in a pod name, odd headers and bodies."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from tests.app.conftest import TOKEN, bare_client, make_app
from tests.conftest import RunningLab

PORT = 8080
REBOUND = "http://attacker.example:8080"
ACTIONS = [
    ("POST", "/api/pods", {"name": "web"}),
    ("DELETE", "/api/pods/web", None),
    ("POST", "/api/trace", {"src": "web", "dst": "db"}),
    ("POST", "/api/exercises/6/start", {}),
    ("POST", "/api/exercises/6/hint", {}),
    ("POST", "/api/exercises/6/check", {"which": "solution"}),
    ("POST", "/api/demo/next", {}),
    ("POST", "/api/editor/6/save", {"text": "# mine\n", "version": ""}),
    ("POST", "/api/editor/6/reset", {"version": ""}),
    ("POST", "/api/editor/6/diff", {"against": "starter"}),
    ("POST", "/api/editor/6/check", {"which": "solution"}),
]
READS = [
    "/api/status",
    "/api/topology",
    "/api/pods",
    "/api/calls",
    "/api/events",
    "/api/exercises",
    "/api/exercises/6",
    "/api/exercises/6/file",
    "/api/exercises/6/file?which=solution",
    "/api/editor/6",
    "/api/editor/6/where",
    "/api/terminal",
]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app as `cnilab serve --port 8080` makes it."""
    monkeypatch.setenv("CNILAB_WORKSPACE", str(tmp_path / "work"))
    return make_app(tmp_path / "state", PORT=PORT)


def every_api_rule(app: Flask) -> list[str]:
    return sorted(r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/"))


def test_the_lists_above_cover_every_api_route(served: Flask) -> None:
    tried = {re.sub(r"\d+|web", "<>", p.split("?")[0]) for p in READS + [a[1] for a in ACTIONS]}
    for rule in every_api_rule(served):
        assert re.sub(r"<[^>]+>", "<>", rule) in tried, f"{rule} is not tried below"


@pytest.mark.parametrize("token", [TOKEN, None])
@pytest.mark.parametrize(("method", "path", "body"), ACTIONS)
def test_a_rebound_host_is_refused_with_or_without_the_token(
    served: Flask, workspace_dir: Path, method: str, path: str, body: object, token: str | None
) -> None:
    client = served.test_client() if token else bare_client(served)
    r = client.open(path, method=method, json=body, base_url=REBOUND, headers={"Origin": REBOUND})
    assert r.status_code == 403
    assert "host" in r.get_json()["error"]
    assert not workspace_dir.exists()  # start/hint wrote nothing


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.mark.parametrize(
    "host",
    ["attacker.example:8080", "127.0.0.1:9999", "localhost", "127.0.0.1:8080@evil", "", "[::1"],
)
def test_only_loopback_on_the_serving_port_is_answered(served: Flask, host: str) -> None:
    r = served.test_client().get("/api/status", headers={"Host": host})
    assert r.status_code == 403
    assert served.test_client().get("/", headers={"Host": host}).status_code == 403
    assert (
        served.test_client().get("/static/css/cnilab.css", headers={"Host": host}).status_code
        == 403
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.1.2.3:8080"]
)
def test_loopback_names_are_answered(served: Flask, host: str) -> None:
    assert served.test_client().get("/api/status", headers={"Host": host}).status_code == 200


def test_allow_host_names_one_more(tmp_path: Path) -> None:
    app = make_app(tmp_path, PORT=PORT, ALLOWED_HOSTS=["node1.lab"])
    assert (
        app.test_client().get("/api/status", headers={"Host": "node1.lab:8080"}).status_code == 200
    )
    assert (
        app.test_client().get("/api/status", headers={"Host": "node2.lab:8080"}).status_code == 403
    )


@pytest.mark.parametrize("path", READS)
def test_no_token_from_loopback_reads_nothing(served: Flask, path: str) -> None:
    r = bare_client(served).get(path, headers={"Host": "127.0.0.1:8080"})
    assert r.status_code == 403
    assert set(r.get_json()) == {"error"} and "token" in r.get_json()["error"]


@pytest.mark.parametrize(("method", "path", "body"), ACTIONS)
def test_no_token_acts_on_nothing(
    served: Flask, workspace_dir: Path, method: str, path: str, body: object
) -> None:
    r = bare_client(served).open(path, method=method, json=body, headers={"Host": "localhost:8080"})
    assert r.status_code == 403
    assert not workspace_dir.exists()


def test_the_token_is_taken_from_the_query_or_the_header(served: Flask) -> None:
    client = bare_client(served)
    host = {"Host": "localhost:8080"}
    assert client.get(f"/api/status?token={TOKEN}", headers=host).status_code == 200
    assert client.get("/api/status", headers={**host, "X-Cnilab-Token": TOKEN}).status_code == 200
    assert client.get("/api/status?token=wrong", headers=host).status_code == 403


@pytest.mark.parametrize(
    "given", ["\xb2", "t\xc3\xa9st-token", "\xe2\x82\xac" * 40, TOKEN + "\x00"]
)
def test_a_non_ascii_or_odd_token_is_a_403(served: Flask, given: str) -> None:
    client = bare_client(served)
    client.environ_base["HTTP_X_CNILAB_TOKEN"] = given
    r = client.get("/api/status", headers={"Host": "localhost:8080"})
    assert r.status_code == 403


def test_an_app_without_a_token_serves_no_api(tmp_path: Path) -> None:
    app = make_app(tmp_path, TOKEN="")
    r = bare_client(app).get("/api/status")
    assert r.status_code == 403 and "no token" in r.get_json()["error"]


def test_no_token_mode_is_explicit(tmp_path: Path) -> None:
    app = make_app(tmp_path, TOKEN="", NO_TOKEN=True)
    assert bare_client(app).get("/api/status").status_code == 200
    assert b"token-needed" not in bare_client(app).get("/").data


def test_pages_say_the_token_is_needed(served: Flask) -> None:
    page = bare_client(served).get("/", headers={"Host": "localhost:8080"})
    assert page.status_code == 200 and b'data-testid="token-needed"' in page.data


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    work = tmp_path / "work" / "06-add"
    work.mkdir(parents=True)
    (work / "plugin.py").write_text("# the student's own secret work\n")
    monkeypatch.setenv("CNILAB_WORKSPACE", str(tmp_path / "work"))
    return make_app(tmp_path / "state", READ_ONLY=True)


ALLOWED_READ_ONLY = {"/api/status", "/api/topology", "/api/pods", "/api/calls", "/api/events"}


@pytest.mark.parametrize("path", [p for p in READS if p != "/api/topology"])
def test_read_only_serves_the_graph_and_nothing_else(read_only: Flask, path: str) -> None:
    r = read_only.test_client().get(path, buffered=False)
    try:
        if path in ALLOWED_READ_ONLY:
            assert r.status_code in (200, 409, 503)  # 409: no lab; 503: no topology yet
        else:
            assert r.status_code == 403
            assert set(r.get_json()) == {"error"}
    finally:
        r.close()


@pytest.mark.parametrize(("method", "path", "body"), ACTIONS)
def test_read_only_refuses_every_action(
    read_only: Flask, method: str, path: str, body: object
) -> None:
    r = read_only.test_client().open(path, method=method, json=body)
    assert r.status_code == 403 and "read-only" in r.get_json()["error"]


def test_read_only_pages_hold_no_solution_or_student_code(read_only: Flask, tmp_path: Path) -> None:
    from lab.exercises.catalog import get_exercise

    solution = get_exercise("add").solution.read_text()
    marker = next(line for line in solution.splitlines() if "pyroute2" in line or "def " in line)
    for path in ("/", "/exercises/", "/exercises/6"):
        page = read_only.test_client().get(path).get_data(as_text=True)
        assert marker not in page
        assert "secret work" not in page
        assert str(tmp_path) not in page


def test_a_500_says_nothing_of_the_internals(
    served: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app import labstate

    def broken(self: object) -> None:
        raise RuntimeError("/run/cnilab/secret-state exploded")

    monkeypatch.setattr(labstate.LabHandle, "plan", broken)
    with caplog.at_level(logging.ERROR):
        r = served.test_client().get("/api/status", headers={"Host": "localhost:8080"})
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "secret-state" not in body and "RuntimeError" not in body and "Traceback" not in body
    error_id = re.search(r"id ([0-9a-f]{8})", r.get_json()["error"])
    assert error_id is not None
    assert any(error_id.group(1) in rec.getMessage() and rec.exc_info for rec in caplog.records)


@pytest.mark.parametrize("limit", ["²", "٣", "1e3", "-1", "0", "501", " 5"])
def test_an_odd_limit_is_a_400(client: object, limit: str) -> None:
    r = client.get("/api/calls", query_string={"limit": limit})  # type: ignore[attr-defined]
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/api/pods", "/api/trace", "/api/exercises/6/check"])
def test_deeply_nested_json_is_a_400(client: object, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    r = client.post(path, data=deep, content_type="application/json")  # type: ignore[attr-defined]
    assert r.status_code in (400, 413)
    assert "error" in r.get_json()


def test_event_streams_are_capped(tmp_path: Path) -> None:
    app = make_app(tmp_path, MAX_STREAMS=1)
    first = app.test_client().get("/api/events", buffered=False)
    try:
        assert first.status_code == 200
        second = app.test_client().get("/api/events")
        assert second.status_code == 503 and second.headers["Retry-After"]
    finally:
        first.close()
    again = app.test_client().get("/api/events", buffered=False)  # the slot came back
    try:
        assert again.status_code == 200
    finally:
        again.close()
        app.extensions["cnilab"].hub.stop()


@pytest.mark.root
@pytest.mark.parametrize(
    "src", ["../../../../tmp/x", "../pods/web", "/etc/passwd", "web/../../x", "a" * 300]
)
def test_a_path_as_a_trace_endpoint_reads_no_file(
    lab_app: tuple[Flask, RunningLab], tmp_path: Path, src: str
) -> None:
    app, _ = lab_app
    (tmp_path / "x.json").write_text(json.dumps({"leak": "the keys of a root-only file"}))
    for body in ({"src": src, "dst": "internet"}, {"src": "nope", "dst": src}):
        r = app.test_client().post("/api/trace", json=body)
        assert r.status_code == 400
        text = r.get_data(as_text=True)
        assert "leak" not in text and "unexpected keyword" not in text and "Traceback" not in text


@pytest.mark.root
def test_the_runtime_refuses_a_path_for_a_pod_name(lab: RunningLab, tmp_path: Path) -> None:
    from lab.runtime.pods import PodError

    (tmp_path / "x.json").write_text("{}")
    for name in ("../../../../" + str(tmp_path / "x"), "../x", "a/b", ".", ""):
        with pytest.raises(PodError):
            lab.runtime.get(name)
        with pytest.raises(PodError):
            lab.runtime.delete(name)
