"""One agent at a time: its token, what it shows, its capture phases and their limits."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lab.agent.client import AgentError
from lab.trace.probe import Probe
from tests.agent.conftest import (
    CNILAB,
    TOKENS,
    TwoHosts,
    process_counts,
    settled_counts,
    start_agent_process,
    wait_until,
)

pytestmark = pytest.mark.root


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_every_request_needs_the_token(hosts: TwoHosts, node: str) -> None:
    url = (hosts.node1.url if node == "node1" else hosts.node2.url) + "/v1/info"
    status, body = get(url)
    assert status == 401 and "token" in body["error"]
    assert get(url, {"Authorization": "Bearer nope"})[0] == 401
    assert get(url, {"X-Cnilab-Token": TOKENS["node2" if node == "node1" else "node1"]})[0] == 401
    assert get(hosts.node1.url + "/v1/nothing")[0] == 401  # before routing
    status, body = get(url, {"X-Cnilab-Token": TOKENS[node]})
    assert status == 200 and body["node"] == node
    assert get(url, {"Authorization": f"Bearer {TOKENS[node]}"})[0] == 200


def test_an_agent_refuses_to_run_without_a_token_off_loopback(tmp_path: Path) -> None:
    import subprocess

    for args, words in [
        (["--host", "0.0.0.0", "--no-token"], "needs a token"),
        (["--host", "127.0.0.1"], "needs a token"),
        (["--netns", "no-such-namespace-here", "--no-token"], "no network namespace"),
    ]:
        out = subprocess.run(
            [CNILAB, "agent", "--port", "0", "--node", "x", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert out.returncode == 2 and words in out.stderr, out.stderr
    agent = start_agent_process(
        ["--node", "solo", "--no-token", "--pod", "nothing"], tmp_path / "log"
    )
    try:
        status, body = get(agent.url + "/v1/info")
        assert (
            status == 200 and body["netns"] == "solo/host" and body["namespaces"] == ["solo/host"]
        )
    finally:
        agent.stop()


def namespaces(snap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in snap["nodes"] if n["type"] == "namespace"}


def test_each_agent_shows_only_its_node(hosts: TwoHosts) -> None:
    plan = hosts.lab.plan
    one = hosts.client("node1").snapshot()
    two = hosts.client("node2").snapshot()
    assert set(namespaces(one)) == {
        f"node1/{plan.node('node1').netns}",
        f"node1/{hosts.netns('n1-a')}",
        f"node1/{hosts.netns('n1-b')}",
    }
    assert set(namespaces(two)) == {
        f"node2/{plan.node('node2').netns}",
        f"node2/{hosts.netns('n2-c')}",
    }
    for node, snap in (("node1", one), ("node2", two)):
        assert {n["node"] for n in namespaces(snap).values()} == {node}
        assert all(n["id"].startswith((f"ns:{node}/", f"if:{node}/")) for n in snap["nodes"])
        assert snap["graph"]["node"] == node
    assert {n["label"] for n in namespaces(one).values() if n["kind"] == "pod"} == {"a", "b"}
    assert one["graph"]["node_ip"] == "192.168.56.11" and two["graph"]["node_ip"] == "192.168.56.12"


def test_snapshot_long_poll_and_events(hosts: TwoHosts) -> None:
    client = hosts.client("node2")
    seq = client.snapshot()["graph"]["seq"]
    assert client.snapshot(after=seq, wait=0.2) is None  # nothing new: 204
    assert client.snapshot(after=seq + 1000, wait=5)["graph"]["seq"] == seq  # an older run's seq
    req = urllib.request.Request(
        hosts.node2.url + "/v1/events", headers={"X-Cnilab-Token": TOKENS["node2"]}
    )
    with urllib.request.urlopen(req, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = [stream.readline() for _ in range(4)]
    assert lines[2] == b"event: snapshot\n" and lines[3].startswith(b"data: {")
    assert json.loads(lines[3][6:])["graph"]["node"] == "node2"


def test_capture_phases_refuse_bad_input(hosts: TwoHosts) -> None:
    client = hosts.client("node1")
    with pytest.raises(AgentError, match="HTTP 400: probe: 'dst' must be an IPv4"):
        client.arm({**Probe("icmp", "10.244.1.2").marker(), "dst": "x"}, 5)
    with pytest.raises(AgentError, match="HTTP 400: 'ttl'"):
        client.arm(Probe("icmp", "10.244.1.2").marker(), 600)
    with pytest.raises(AgentError, match="HTTP 404: no capture"):
        client.collect("0123456789abcdef", True, 0.1)
    cid = client.arm(Probe("icmp", "10.244.1.2").marker(), 5)
    try:
        with pytest.raises(AgentError, match=r"HTTP 400: 'node2/.*' is not a namespace of node1"):
            client.send(cid, f"node2/{hosts.netns('n2-c')}")
        with pytest.raises(AgentError, match="HTTP 400: 'until_reply'"):
            client.call("POST", f"/v1/captures/{cid}/collect", {"until_reply": "yes"})
    finally:
        client.cancel(cid)
    with pytest.raises(AgentError, match="HTTP 404"):
        client.send(cid, f"node1/{hosts.netns('n1-a')}")


def test_an_abandoned_capture_closes_itself(hosts: TwoHosts) -> None:
    client, pid = hosts.client("node1"), hosts.node1.pid
    assert wait_until(lambda: client.info()["captures"] == 0)
    before = settled_counts(pid)
    cid = client.arm(Probe("icmp", "10.244.1.2").marker(), 0.5)
    client.send(cid, hosts.netns("n1-a"))
    assert client.info()["captures"] == 1 and process_counts(pid)[0] > before[0]
    assert wait_until(lambda: client.info()["captures"] == 0, 5)
    assert wait_until(lambda: settled_counts(pid) == before, 5), (process_counts(pid), before)
    with pytest.raises(AgentError, match="HTTP 404"):
        client.collect(cid, False, 0)
