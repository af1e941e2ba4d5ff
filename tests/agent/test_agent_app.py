"""The web app with two node agents: one merged graph, one cross-node trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.agent.conftest import TwoHosts, process_counts, settled_counts, wait_until

pytestmark = pytest.mark.root
LEFT_OUT = ("cnilab-follow", "topology")
WEB_TOKEN = "token-of-the-web-app"


@pytest.fixture
def app(hosts: TwoHosts, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "STATE_DIR": str(tmp_path / "no-lab"),
            "AGENTS": hosts.refs,
            "TOKEN": WEB_TOKEN,
        }
    )
    try:
        yield app
    finally:
        app.extensions["cnilab"].hub.stop()  # waits for the followers' last long polls


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_CNILAB_TOKEN"] = WEB_TOKEN
    return client


def topology(client: FlaskClient, ready: Any) -> dict[str, Any]:
    """The merged graph, once `ready(graph)` holds (the agents may still be starting)."""
    found: dict[str, Any] = {}

    def check() -> bool:
        r = client.get("/api/topology")
        found.update(r.get_json())
        return r.status_code == 200 and ready(found)

    assert wait_until(check, 15), found
    return found


def test_the_app_merges_both_agents_into_one_graph(hosts: TwoHosts, client: FlaskClient) -> None:
    plan = hosts.lab.plan
    node1, node2 = plan.node("node1").netns, plan.node("node2").netns
    data = topology(client, lambda d: len(d["graph"].get("agents", [])) == 2)
    assert [a["ok"] for a in data["graph"]["agents"]] == [True, True], data["graph"]
    spaces = {n["id"]: n for n in data["nodes"] if n["type"] == "namespace"}
    assert set(spaces) == {
        f"ns:node1/{node1}",
        f"ns:node1/{hosts.netns('n1-a')}",
        f"ns:node1/{hosts.netns('n1-b')}",
        f"ns:node2/{node2}",
        f"ns:node2/{hosts.netns('n2-c')}",
    }
    pods = {n["label"]: n["node"] for n in spaces.values() if n["kind"] == "pod"}
    assert pods == {"a": "node1", "b": "node1", "c": "node2"}
    nodes = {n["node"] for n in spaces.values() if n["kind"] == "node"}
    assert nodes == {"node1", "node2"}
    veths = {
        tuple(sorted((e["source"], e["target"]))) for e in data["edges"] if e["kind"] == "veth"
    }
    for node, netns, pod in (
        ("node1", node1, "n1-a"),
        ("node1", node1, "n1-b"),
        ("node2", node2, "n2-c"),
    ):
        pair = sorted(
            (f"if:{node}/{hosts.netns(pod)}:eth0", f"if:{node}/{netns}:{hosts.host_veth(pod)}")
        )
        assert tuple(pair) in veths
    ids = [n["id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids))
    assert all(e["source"] in ids and e["target"] in ids for e in data["edges"])


def test_a_new_pod_shows_up_through_its_agent(hosts: TwoHosts, client: FlaskClient) -> None:
    topology(client, lambda d: len(d["nodes"]) > 0)
    hosts.lab.runtime.add("n2-d", "node2")
    try:
        topology(
            client,
            lambda d: any(n.get("label") == "d" and n.get("node") == "node2" for n in d["nodes"]),
        )
    finally:
        hosts.lab.runtime.delete("n2-d")


def path(hops: list[dict[str, Any]], leg: str) -> list[tuple[str, str, str]]:
    return [(h["netns"], h["ifname"], h["direction"]) for h in hops if h["leg"] == leg]


def test_a_cross_node_trace_through_the_app(hosts: TwoHosts, client: FlaskClient) -> None:
    plan = hosts.lab.plan
    n1, n2 = f"node1/{plan.node('node1').netns}", f"node2/{plan.node('node2').netns}"
    a, c = f"node1/{hosts.netns('n1-a')}", f"node2/{hosts.netns('n2-c')}"
    r = client.post("/api/trace", json={"src": "a", "dst": "c"})
    assert r.status_code == 200, r.get_json()
    t = r.get_json()
    assert t["replied"], t["why"]
    assert t["dst_ip"] == "10.244.1.2"
    assert path(t["hops"], "request") == [
        (a, "eth0", "out"),
        (n1, hosts.host_veth("n1-a"), "in"),
        (n1, "cni0", "in"),
        (n1, "eth0", "out"),
        (n2, "eth0", "in"),
        (n2, "cni0", "out"),
        (n2, hosts.host_veth("n2-c"), "out"),
        (c, "eth0", "in"),
    ]
    request = [h for h in t["hops"] if h["leg"] == "request"]
    assert [h["ttl"] for h in request] == [64, 64, 64, 63, 63, 62, 62, 62]
    assert [h["node"] for h in request] == ["node1"] * 4 + ["node2"] * 4
    assert "routed by node1 (TTL 64 -> 63" in request[3]["action"]
    assert "routed by node2 (TTL 63 -> 62" in request[5]["action"]
    assert request[0]["action"] == "sent by pod a" and request[-1]["action"] == "delivered to pod c"
    reply = [h for h in t["hops"] if h["leg"] == "reply"]
    assert reply[0]["netns"] == c and reply[-1]["netns"] == a and reply[-1]["ttl"] == 62
    assert [h["ms"] for h in t["hops"]] == sorted(h["ms"] for h in t["hops"])
    agents = {x["name"]: x for x in t["agents"]}
    assert set(agents) == {"node1", "node2"}
    assert all("offset_ms" in x and not x["error"] for x in agents.values())
    # every hop names an interface of the merged graph, so the page can light it up
    graph = topology(client, lambda d: len(d["nodes"]) > 0)
    ids = {n["id"] for n in graph["nodes"]}
    assert all(f"if:{h['netns']}:{h['ifname']}" in ids for h in t["hops"])


def test_a_trace_to_a_node_and_to_a_dropped_route(hosts: TwoHosts, client: FlaskClient) -> None:
    t = client.post("/api/trace", json={"src": "b", "dst": "node2"}).get_json()
    assert t["replied"] and t["dst_ip"] == "192.168.56.12", t
    # the reply leaves node2 and enters node1 at the same TTL: node2 is where that leg starts
    request = [h["node"] for h in t["hops"] if h["leg"] == "request"]
    reply = [h["node"] for h in t["hops"] if h["leg"] == "reply"]
    assert request == sorted(request) and (request[0], request[-1]) == ("node1", "node2")
    assert reply == sorted(reply, reverse=True) and (reply[0], reply[-1]) == ("node2", "node1")
    node1 = hosts.lab.plan.node("node1").netns
    hosts.lab.sh(node1, "ip", "route", "del", "10.244.1.0/24")
    try:
        r = client.post("/api/trace", json={"src": "a", "dst": "c", "proto": "udp", "port": 53})
        t = r.get_json()
        assert r.status_code == 200 and not t["replied"], t
        assert "node1 has no route to 10.244.1.2" in t["why"], t["why"]
    finally:
        hosts.lab.sh(node1, "ip", "route", "add", "10.244.1.0/24", "via", "192.168.56.12")


def test_bad_trace_requests_are_clear(client: FlaskClient) -> None:
    r = client.post("/api/trace", json={"src": "nope", "dst": "c"})
    assert r.status_code == 400 and "no pod named 'nope'" in r.get_json()["error"]
    r = client.post("/api/trace", json={"src": "a", "dst": "c", "proto": "tcp"})
    assert r.status_code == 400 and "needs --port" in r.get_json()["error"]


def test_twenty_traces_leak_nothing_in_the_agents(hosts: TwoHosts, client: FlaskClient) -> None:
    """node1's agent is a process (its worker's fds and threads); node2's runs here: its threads."""
    pid = hosts.node1.worker_pid

    def node2_threads() -> int:  # leaves out the app's followers of earlier tests
        return sum(not t.name.startswith(LEFT_OUT) for t in threading.enumerate())

    def serving() -> bool:  # a request thread of node2's agent, still finishing
        return any("process_request" in t.name for t in threading.enumerate())

    assert client.post("/api/trace", json={"src": "a", "dst": "c"}).get_json()["replied"]
    assert wait_until(lambda: len(hosts.node2.agent.captures) == 0 and not serving(), 15)
    before = settled_counts(pid), node2_threads()
    for i in range(20):
        src, dst = ("a", "c") if i % 2 else ("c", "b")
        t = client.post("/api/trace", json={"src": src, "dst": dst}).get_json()
        assert t["replied"], t
    assert wait_until(lambda: (settled_counts(pid), node2_threads()) == before, 10), (
        process_counts(pid),
        node2_threads(),
        before,
    )
    assert len(hosts.node2.agent.captures) == 0
