"""Fuzzing every route of the web app: random methods, path segments, query strings,
headers and bodies, with and without the token, from our Host and from others.

Whatever comes in: never a 500 or a traceback, always a JSON error for a refused API
request, and a refused request changes nothing (no workspace file, no lab state). A
second property runs against a real lab: what is refused leaves its kernel untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from lab.live.topology_feed import feed
from tests.app.conftest import TOKEN, make_app

pytestmark = pytest.mark.fuzz

PORT = 8080
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]
NASTY = [
    "..",
    "../../../../etc/passwd",
    "%2e%2e%2f",
    "web",
    "node1",
    "5",
    "99",
    "-1",
    "0",
    "²",
    "a" * 300,
    "\x00",
    "web/../../x",
    "solution",
]
HOSTS = [
    f"127.0.0.1:{PORT}",
    f"localhost:{PORT}",
    f"[::1]:{PORT}",
    f"attacker.example:{PORT}",
    "127.0.0.1:9",
    "",
    "évil",
    "a" * 300,
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "name",
        "node",
        "ifname",
        "demo",
        "ports",
        "network",
        "src",
        "dst",
        "proto",
        "port",
        "which",
        "limit",
        "token",
    ]
)
bodies = st.one_of(
    st.none(),
    st.dictionaries(fields, json_values | st.sampled_from(NASTY), max_size=6),
    json_values,
    st.binary(max_size=200),
    st.just(b"[" * 5000),
)
segments = st.sampled_from(NASTY) | st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30
)
tokens = st.sampled_from([TOKEN, "", "wrong", "\xb2", TOKEN + " ", "\xe2\x82\xac" * 9])


def api_rules(app: Flask) -> list[str]:
    return sorted({r.rule for r in app.url_map.iter_rules() if r.endpoint != "static"})


def fill(rule: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"<[^>]+>", lambda _: next(it, "x"), rule)


def tree_digest(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            digest.update(str(path).encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Path]]:
    root = tmp_path_factory.mktemp("fuzzweb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNILAB_WORKSPACE", str(root / "work"))
        app = make_app(root / "state", PORT=PORT, MAX_STREAMS=4)
        first = next(feed(iter([{"graph": {}, "nodes": [], "edges": []}])))
        app.extensions["cnilab"].hub.publish("topology", first)
        yield app, root
        app.extensions["cnilab"].hub.stop()


def send(
    client: FlaskClient,
    method: str,
    path: str,
    query: dict[str, str],
    host: str,
    token: str | None,
    origin: str | None,
    body: Any,
) -> Any:
    headers: dict[str, str] = {}
    environ = {"HTTP_HOST": host}
    if token is not None:
        environ["HTTP_X_CNILAB_TOKEN"] = token
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    kwargs: dict[str, Any] = {
        "method": method,
        "query_string": query,
        "headers": headers,
        "environ_overrides": environ,
        "buffered": False,
    }
    if isinstance(body, bytes):
        kwargs["data"] = body
        kwargs["content_type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body
    return client.open(path, **kwargs)


@given(
    rule_index=st.integers(min_value=0, max_value=200),
    values=st.lists(segments, min_size=0, max_size=3),
    method=st.sampled_from(METHODS),
    query=st.dictionaries(fields, segments, max_size=3),
    host=st.sampled_from(HOSTS[:3] * 4 + HOSTS[3:]),  # mostly ours: the views get fuzzed too
    token=st.none() | st.just(TOKEN) | st.just(TOKEN) | tokens,
    origin=st.none() | st.sampled_from([f"http://127.0.0.1:{PORT}", "http://evil.example", "null"]),
    body=bodies,
)
def test_no_request_gets_a_500_or_changes_what_it_was_refused(
    web: tuple[Flask, Path],
    rule_index: int,
    values: list[str],
    method: str,
    query: dict[str, str],
    host: str,
    token: str | None,
    origin: str | None,
    body: Any,
) -> None:
    app, root = web
    rules = api_rules(app)
    path = fill(rules[rule_index % len(rules)], values)
    before = tree_digest(root)
    client = FlaskClient(app)
    try:
        response = send(client, method, path, query, host, token, origin, body)
    except (ValueError, UnicodeError):
        return  # the test client could not even build that request
    try:
        status = response.status_code
        assert status < 500 or status == 503, (method, path, status)
        if status == 503:
            assert path.startswith("/api/")
        if status >= 400 and path.startswith("/api/") and method != "HEAD":
            data = json.loads(response.get_data())
            assert set(data) == {"error"} and "Traceback" not in data["error"]
        if status >= 400:
            assert tree_digest(root) == before, (method, path, status)
        if (token != TOKEN or host not in HOSTS[:3]) and path.startswith("/api/"):
            assert status >= 400, (method, path, host, token, status)
    finally:
        response.close()


@pytest.mark.root
@given(
    method=st.sampled_from(["POST", "DELETE"]),
    name=segments,
    host=st.sampled_from(HOSTS[3:]),
    token=st.none() | tokens.filter(lambda t: t != TOKEN),
)
def test_refused_actions_leave_a_real_lab_untouched(
    lab_web: tuple[Flask, Any], method: str, name: str, host: str, token: str | None
) -> None:
    from lab.kernel.netns import list_netns

    app, lab = lab_web
    before = (sorted(list_netns()), sorted(p.name for p in lab.runtime.list()))
    path = "/api/pods" if method == "POST" else f"/api/pods/{quote(name, safe='')}"
    response = send(FlaskClient(app), method, path, {}, host, token, None, {"name": name})
    assert response.status_code == 403
    assert (sorted(list_netns()), sorted(p.name for p in lab.runtime.list())) == before


@pytest.fixture(scope="module")
def lab_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Any]]:
    from lab.cluster import build
    from lab.runtime.pods import Runtime
    from tests.conftest import RunningLab, new_plan

    plan = build.up(new_plan(tmp_path_factory.mktemp("fuzzlab")))
    try:
        lab = RunningLab(plan, Runtime(plan))
        lab.runtime.add("web", "node1")
        yield make_app(Path(plan.state_dir), PORT=PORT), lab
    finally:
        build.down(plan)
