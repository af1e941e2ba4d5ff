"""Fuzzing a node agent's API in-process: random methods, paths, queries, headers and JSON
bodies, unsigned, badly signed, replayed, and correctly signed.

The agent is real (its watcher, its captures' packet sockets) and serves two namespaces
made here: a node on 10.244.0.1/24 and a pod with no address at the veth's other end, so
a probe that leaves stays between the two (nobody answers its ARP). Whatever comes in:
never a 500, never a traceback, a JSON error for every refusal, 403 for a foreign Host,
401 for whatever is not signed right, and a refused request changes nothing: the same
captures open, none of them sent.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from werkzeug.test import Client

from lab.agent.httpd import agent_wsgi
from lab.agent.scope import NodeScope
from lab.agent.service import Agent
from lab.agent.signing import NONCE_HEADER, SIGNATURE_HEADER, TIME_HEADER, sign
from lab.trace.probe import MARK, Probe
from tests.conftest import Namespaces

pytestmark = [pytest.mark.fuzz, pytest.mark.root]

TOKEN = "fuzz-token"
NODE = "node1"
PORT = 8081
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]
NASTY = ["..", "%2e%2e", "²", "\x00", "a" * 300, "-1", "1e400", "nan", "inf", "0x10", " 1"]
PATHS = [
    "/v1/info",
    "/v1/snapshot",
    "/v1/events",
    "/v1/captures",
    "/v1/captures/{cid}/send",
    "/v1/captures/{cid}/collect",
    "/v1/captures/{cid}",
    "/v1/ask",
    "/v1/{x}",
    "/{x}",
]
HOSTS = [f"127.0.0.1:{PORT}"] * 8 + [f"localhost:{PORT}", f"attacker.example:{PORT}", "127.0.0.1:9"]
ROUTES = [  # the API's own: most cases get past routing, into the endpoints
    ("GET", "/v1/info"),
    ("GET", "/v1/snapshot"),
    ("POST", "/v1/captures"),
    ("POST", "/v1/captures/{cid}/send"),
    ("POST", "/v1/captures/{cid}/collect"),
    ("DELETE", "/v1/captures/{cid}"),
    ("POST", "/v1/ask"),
]
SIGNING = ["good", "good", "good", "none", "bearer", "garbage", "wrong-token", "stale", "replay"]

small = st.floats(min_value=0, max_value=0.02) | st.sampled_from([0, -1, 1e400, "1", None, True])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
addresses = st.sampled_from(
    ["10.244.0.2", "10.244.0.1", "8.8.8.8", "127.0.0.1", "0.0.0.0", "203.0.113.1", "x", ""]
)


@st.composite
def probes(draw: st.DrawFn) -> Any:
    proto = draw(st.sampled_from(["icmp", "udp", "tcp"]))
    sport, ident = draw(st.integers(40000, 60999)), draw(st.integers(1, 0xFFFF))
    marker = Probe(proto, "10.244.0.2", 53, MARK + b"fuzz", sport, ident).marker()
    for key in draw(st.lists(st.sampled_from(sorted(marker)), max_size=2)):
        marker[key] = draw(json_values | addresses)
    marker["dst"] = draw(addresses) if draw(st.booleans()) else marker["dst"]
    return draw(st.just(marker) | json_values)


def bodies(spaces: list[str]) -> st.SearchStrategy[Any]:
    names = st.sampled_from([*spaces, *(f"{NODE}/{s}" for s in spaces), "node2/x", "../x"])
    fields = st.fixed_dictionaries(
        {},
        optional={
            "probe": probes(),
            "ttl": small | st.sampled_from([0.5, 61, "5"]),
            "from": names | json_values,
            "netns": names | json_values,
            "until_reply": st.booleans() | json_values,
            "timeout": small,
            "dst": addresses | json_values,
            "question": st.sampled_from(["route", "default-gateway", "x"]) | json_values,
            "label": st.text(max_size=20) | json_values,
        },
    )
    return st.one_of(st.none(), fields, json_values, st.binary(max_size=100), st.just(b"[" * 5000))


@dataclass
class Target:
    agent: Agent
    client: Client
    spaces: list[str]


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    ns = Namespaces()
    agent = None
    try:
        node, pod = ns.new("node"), ns.new("pod")
        for where, *args in (
            (node, "link", "set", "lo", "up"),
            (node, "link", "add", "d0", "type", "veth", "peer", "d1", "netns", pod),
            (node, "addr", "add", "10.244.0.1/24", "dev", "d0"),
            (node, "link", "set", "d0", "up"),
            (pod, "link", "set", "d1", "up"),
        ):
            subprocess.run(["ip", "-n", where, *args], check=True, capture_output=True)
        agent = Agent(NodeScope(NODE, node, pods=(pod,)), max_captures=3).start()
        assert agent.snapshot() is not None
        yield Target(agent, Client(agent_wsgi(agent, TOKEN, PORT, ())), [node, pod])
    finally:
        if agent is not None:
            agent.close()
        ns.cleanup()


def state(agent: Agent) -> dict[str, Any]:
    """What a refused request must leave as it was: the open captures, and their sends."""
    with agent.captures._lock:
        return {cid: a.sent_at for cid, a in agent.captures._open.items()}


def headers_for(signing: str, method: str, target: str, data: bytes) -> dict[str, str]:
    if signing in ("good", "replay"):
        return sign(TOKEN, NODE, method, target, data)
    if signing == "stale":
        return sign(TOKEN, NODE, method, target, data, now=1_000_000.0)
    if signing == "wrong-token":
        return sign("not-" + TOKEN, NODE, method, target, data)
    if signing == "bearer":
        return {"Authorization": f"Bearer {TOKEN}", "X-Cnilab-Token": TOKEN}
    if signing == "garbage":
        return {TIME_HEADER: "²", NONCE_HEADER: "\x00" * 20, SIGNATURE_HEADER: "é" * 64}
    return {}


def check(response: Any, method: str) -> tuple[int, Any]:
    status, raw = response.status_code, response.get_data()
    assert status < 500 or status == 503, (status, raw[:300])
    assert b"Traceback" not in raw and b'File "' not in raw
    answer = json.loads(raw) if raw else None
    if status >= 400 and method != "HEAD":
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str), raw[:300]
    return status, answer


@given(data=st.data())
def test_no_agent_request_gets_a_500_or_changes_what_it_was_refused(
    target: Target, data: st.DataObject
) -> None:
    agent = target.agent
    armed = data.draw(st.integers(0, 4)) == 0  # a fifth of the cases target a real capture
    real = agent.captures.arm(agent_spaces(target), Probe("icmp", "10.244.0.2")) if armed else ""
    try:
        cid = data.draw(st.sampled_from([real or "0123456789abcdef", "x", "²", "a" * 200]))
        x = quote(data.draw(st.sampled_from(NASTY)), safe="")
        anything = st.tuples(st.sampled_from(METHODS), st.sampled_from(PATHS))
        method, template = data.draw(st.sampled_from(ROUTES) | anything)
        path = template.format(cid=quote(cid, safe=""), x=x)
        query = data.draw(
            st.dictionaries(
                st.sampled_from(["after", "wait", "x"]),
                st.sampled_from(NASTY) | st.sampled_from(["0", "1", "999999", "0.01"]),
                max_size=2,
            )
        )
        body = data.draw(bodies(target.spaces))
        signing = data.draw(st.sampled_from(SIGNING))
        host = data.draw(st.sampled_from(HOSTS))
        extra = data.draw(
            st.dictionaries(
                st.sampled_from(["Content-Type", "Accept", "X-Forwarded-For", "Expect"]),
                st.sampled_from(["application/json", "text/plain", "²", "100-continue", ""]),
                max_size=2,
            )
        )
        if "wait" in query and query.get("after") is not None:
            query["wait"] = "0.01"  # a long poll that waits is not what is fuzzed here
        data_bytes = encode(body)
        target_path = path + (f"?{urlencode(query)}" if query else "")
        headers = {**extra, **headers_for(signing, method, target_path, data_bytes)}
        event(f"signing: {signing}")
        before = state(agent)
        try:
            response = target.client.open(
                target_path, f"http://{host}", method=method, data=data_bytes, headers=headers
            )
        except (ValueError, UnicodeError):
            return  # werkzeug's test client could not even build that request
        status, _ = check(response, method)
        event(f"status {status}")
        if host not in HOSTS[:-2]:
            assert status == 403, (host, status)
        elif signing not in ("good", "replay"):
            assert status == 401, (signing, status)
        if status >= 400:
            assert state(agent) == before, (method, path, status)
        if signing == "replay":
            before = state(agent)
            again = target.client.open(
                target_path, f"http://{host}", method=method, data=data_bytes, headers=headers
            )
            replayed, answer = check(again, method)
            assert replayed == status if status in (401, 403) else replayed == 401, replayed
            if status not in (401, 403) and method != "HEAD":  # HEAD: no body to read
                assert "replayed" in answer["error"]  # the first got past the signature
            assert state(agent) == before
    finally:
        for open_id in list(state(agent)):
            agent.captures.cancel(open_id)
    assert len(agent.captures) == 0


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return b"" if body is None else json.dumps(body).encode()


def agent_spaces(target: Target) -> list[str]:
    return [target.agent.scope.where(n) for n in target.agent.scope.namespaces_now()]
