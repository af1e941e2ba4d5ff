"""One agent at a time: signed requests, what it shows, its capture phases and their limits."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lab.agent.client import AgentClient, AgentError, AgentRef
from lab.agent.reach import LabReach, parse_networks
from lab.agent.signing import SIGNATURE_HEADER, sign
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
NODES = ["node1", "node2"]
UNVERIFIED = ssl._create_unverified_context()  # the tests talk to the agents raw, on purpose


def raw(
    url: str,
    method: str,
    path: str,
    headers: dict[str, Any] | None = None,
    body: bytes | None = None,
) -> tuple[int, Any]:
    """One request as given, no client logic: (status, JSON or None)."""
    host, port = url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=UNVERIFIED)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, json.loads(data) if data else None


def url_of(hosts: TwoHosts, node: str) -> str:
    return hosts.node1.url if node == "node1" else hosts.node2.url


def signed(node: str, method: str, path: str, body: bytes = b"", **kw: Any) -> dict[str, str]:
    return sign(TOKENS[node], node, method, path, body, **kw)


@pytest.mark.parametrize("node", NODES)
def test_every_request_must_be_signed(hosts: TwoHosts, node: str) -> None:
    url, other = url_of(hosts, node), "node2" if node == "node1" else "node1"
    status, body = raw(url, "GET", "/v1/info")
    assert status == 401 and "sign the request" in body["error"]
    # the token itself, as the old agents took it, is no longer enough
    assert raw(url, "GET", "/v1/info", {"Authorization": f"Bearer {TOKENS[node]}"})[0] == 401
    assert raw(url, "GET", "/v1/info", {"X-Cnilab-Token": TOKENS[node]})[0] == 401
    # signed with another token, or signed right but for another node
    wrong = sign(TOKENS[other], node, "GET", "/v1/info", b"")
    assert raw(url, "GET", "/v1/info", wrong)[1]["error"].startswith("wrong signature")
    elsewhere = sign(TOKENS[node], other, "GET", "/v1/info", b"")
    assert raw(url, "GET", "/v1/info", elsewhere)[0] == 401
    # the signature covers the path and the body
    moved = signed(node, "GET", "/v1/info")
    assert raw(url, "GET", "/v1/snapshot", moved)[0] == 401
    headers = signed(node, "POST", "/v1/ask", b"{}")
    assert raw(url, "POST", "/v1/ask", headers, b'{"netns": "x"}')[0] == 401
    assert raw(url, "GET", "/v1/nothing")[0] == 401  # before routing
    status, body = raw(url, "GET", "/v1/info", signed(node, "GET", "/v1/info"))
    assert status == 200 and body["node"] == node
    assert hosts.client(node).info()["node"] == node


@pytest.mark.parametrize("node", NODES)
def test_a_replayed_request_is_refused(hosts: TwoHosts, node: str) -> None:
    url = url_of(hosts, node)
    headers = signed(node, "GET", "/v1/info")
    assert raw(url, "GET", "/v1/info", headers)[0] == 200
    status, body = raw(url, "GET", "/v1/info", headers)
    assert status == 401 and "replayed" in body["error"]
    marker = json.dumps({"probe": Probe("icmp", "10.244.1.2").marker(), "ttl": 5}).encode()
    headers = signed(node, "POST", "/v1/captures", marker)
    status, armed = raw(url, "POST", "/v1/captures", headers, marker)
    assert status == 201
    try:
        assert raw(url, "POST", "/v1/captures", headers, marker)[0] == 401
        assert hosts.client(node).info()["captures"] == 1  # the replay armed nothing
    finally:
        hosts.client(node).cancel(armed["id"])


@pytest.mark.parametrize("node", NODES)
def test_a_stale_request_is_refused_a_skewed_clock_is_not(hosts: TwoHosts, node: str) -> None:
    url = url_of(hosts, node)
    status, body = raw(
        url, "GET", "/v1/info", signed(node, "GET", "/v1/info", now=time.time() - 300)
    )
    assert status == 401 and "off the agent's clock" in body["error"]
    skewed = signed(node, "GET", "/v1/info", now=time.time() + 90)  # a VM's clock ahead
    assert raw(url, "GET", "/v1/info", skewed)[0] == 200


@pytest.mark.parametrize("node", NODES)
def test_a_non_ascii_signature_is_401_not_500(hosts: TwoHosts, node: str) -> None:
    url = url_of(hosts, node)
    for odd in ("²" * 64, "é" + "0" * 63, b"\xff" * 64):
        headers = {**signed(node, "GET", "/v1/info"), SIGNATURE_HEADER: odd}
        status, body = raw(url, "GET", "/v1/info", headers)
        assert status == 401 and "malformed" in body["error"], (odd, body)
    headers = {**signed(node, "GET", "/v1/info"), "X-Cnilab-Nonce": "ü" * 20}
    assert raw(url, "GET", "/v1/info", headers)[0] == 401
    for old_style in ({"X-Cnilab-Token": "²"}, {"Authorization": "Bearer ²"}):  # once a 500
        assert raw(url, "GET", "/v1/info", old_style)[0] == 401


def test_the_token_is_not_in_the_agents_log(hosts: TwoHosts) -> None:
    hosts.client("node1").info()
    raw(hosts.node1.url, "GET", "/v1/info", {"Authorization": f"Bearer {TOKENS['node1']}"})
    assert TOKENS["node1"] not in hosts.node1.log.read_text()


def test_the_agent_answers_only_its_own_host_name(hosts: TwoHosts) -> None:
    """DNS rebinding: with --no-token on loopback no signature stands in the way."""
    port = hosts.node1.url.rsplit(":", 1)[1]
    headers = {**signed("node1", "GET", "/v1/info"), "Host": f"attacker.example:{port}"}
    assert raw(hosts.node1.url, "GET", "/v1/info", headers)[0] == 403
    headers = {**signed("node1", "GET", "/v1/info"), "Host": f"localhost:{port}"}
    assert raw(hosts.node1.url, "GET", "/v1/info", headers)[0] == 200


def test_an_agent_refuses_to_run_without_a_token_off_loopback(tmp_path: Path) -> None:
    for args, words in [
        (["--host", "0.0.0.0", "--no-token"], "needs a token"),
        (["--host", "127.0.0.1"], "needs a token"),
        (["--netns", "no-such-namespace-here", "--no-token"], "no network namespace"),
        (["--no-token", "--lab-network", "0.0.0.0/0"], "not a lab network"),
    ]:
        out = subprocess.run(
            [
                CNILAB,
                "agent",
                "--port",
                "0",
                "--node",
                "x",
                "--cert-dir",
                str(tmp_path / "c"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert out.returncode == 2 and words in out.stderr, out.stderr
    assert not (tmp_path / "c").exists()  # refused before making anything
    agent = start_agent_process(["--node", "solo", "--no-token", "--pod", "nothing"], tmp_path)
    try:
        client = AgentClient(AgentRef("solo", agent.url, "", agent.fingerprint))
        body = client.info()
        assert body["netns"] == "solo/host" and body["namespaces"] == ["solo/host"]
    finally:
        agent.stop()
    cert_dir = tmp_path / "agent-cert"
    assert (cert_dir.stat().st_mode & 0o777, (cert_dir / "agent.key").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    )
    made = subprocess.run(
        [CNILAB, "agent", "--node", "solo", "--cert-dir", str(cert_dir), "--make-cert"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert made.stdout.strip() == agent.fingerprint  # the same certificate, kept


def test_sigterm_stops_master_and_worker(tmp_path: Path) -> None:
    agent = start_agent_process(["--node", "solo", "--no-token", "--pod", "nothing"], tmp_path)
    try:
        children = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()
        assert children, "gunicorn's worker"
        client = AgentClient(AgentRef("solo", agent.url, "", agent.fingerprint), timeout=30)
        seq = client.snapshot()["graph"]["seq"]

        def poll() -> None:
            with contextlib.suppress(AgentError):  # cut off by the stop
                client.snapshot(seq, 25)

        polling = threading.Thread(target=poll)
        polling.start()  # a long poll in flight: the stop does not wait for its 25 s
        time.sleep(0.5)
        started = time.monotonic()
        os.kill(agent.pid, signal.SIGTERM)
        agent.proc.wait(15)
        assert wait_until(lambda: not any(Path(f"/proc/{c}").exists() for c in children), 10)
        assert time.monotonic() - started < 12
        polling.join(30)
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


@pytest.mark.parametrize("node", NODES)
def test_snapshot_long_poll_and_no_stream(hosts: TwoHosts, node: str) -> None:
    client = hosts.client(node)
    seq = client.snapshot()["graph"]["seq"]
    assert client.snapshot(after=seq, wait=0.2) is None  # nothing new: 204
    assert client.snapshot(after=seq + 1000, wait=5)["graph"]["seq"] == seq  # an older run's seq
    with pytest.raises(AgentError, match="HTTP 404"):  # no endpoint holds a thread for ever
        client.call("GET", "/v1/events")


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


@pytest.mark.parametrize("dst", ["8.8.8.8", "127.0.0.1", "10.0.2.15", "224.0.0.1"])
@pytest.mark.parametrize("node", NODES)
def test_a_probe_outside_the_lab_is_refused_at_arm(hosts: TwoHosts, node: str, dst: str) -> None:
    """Refused before any capture exists, so before any packet could leave."""
    client = hosts.client(node)
    with pytest.raises(AgentError, match=rf"HTTP 400: probe: {re.escape(dst)} is "):
        client.arm(Probe("icmp", dst).marker(), 5)
    assert client.info()["captures"] == 0


def test_a_probe_is_checked_again_right_before_it_leaves(hosts: TwoHosts) -> None:
    """node2's agent runs here: narrow its networks between arm and send."""
    agent, client = hosts.node2.agent, hosts.client("node2")
    cid = client.arm(Probe("icmp", "10.244.0.2").marker(), 5)
    agent.reach = LabReach(parse_networks(["203.0.113.1"]))
    try:
        with pytest.raises(AgentError, match=r"HTTP 400: probe: 10\.244\.0\.2 is outside the lab"):
            client.send(cid, hosts.netns("n2-c"))
        assert agent.captures._get(cid).sent_at is None  # nothing left
    finally:
        agent.reach = LabReach()
        client.cancel(cid)


def test_the_cap_counts_captures_being_collected(hosts: TwoHosts) -> None:
    """A collect waits with its sockets open: it still counts against the cap."""
    client = hosts.client("node1")
    assert wait_until(lambda: client.info()["captures"] == 0)
    cap = 8  # lab.agent.captures.MAX_OPEN
    ids = [client.arm(Probe("icmp", "10.244.1.2").marker(), 20) for _ in range(cap)]
    collecting = threading.Thread(target=client.collect, args=(ids.pop(), False, 3))
    try:
        collecting.start()
        assert wait_until(lambda: len(ids) + 1 == client.info()["captures"])
        time.sleep(0.5)  # the collect is waiting, its sockets open
        with pytest.raises(AgentError, match="HTTP 503"):
            client.arm(Probe("icmp", "10.244.1.2").marker(), 20)
        collecting.join(10)
        ids.append(client.arm(Probe("icmp", "10.244.1.2").marker(), 20))  # room again
    finally:
        collecting.join(10)
        for cid in ids:
            client.cancel(cid)
    assert client.info()["captures"] == 0


def test_an_abandoned_capture_closes_itself(hosts: TwoHosts) -> None:
    client, pid = hosts.client("node1"), hosts.node1.worker_pid
    assert wait_until(lambda: client.info()["captures"] == 0)
    before = settled_counts(pid)
    cid = client.arm(Probe("icmp", "10.244.1.2").marker(), 0.5)
    client.send(cid, hosts.netns("n1-a"))
    assert client.info()["captures"] == 1 and process_counts(pid)[0] > before[0]
    assert wait_until(lambda: client.info()["captures"] == 0, 5)
    assert wait_until(lambda: settled_counts(pid) == before, 5), (process_counts(pid), before)
    with pytest.raises(AgentError, match="HTTP 404"):
        client.collect(cid, False, 0)
