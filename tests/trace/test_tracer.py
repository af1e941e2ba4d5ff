"""The tracer on a real lab: every hop, in order, with TTLs, MACs and NAT."""

from __future__ import annotations

import os
import threading
import time

import pytest

from lab.trace.tracer import TraceError, trace
from tests.conftest import RunningLab

pytestmark = pytest.mark.root


@pytest.fixture
def pods(lab: RunningLab) -> RunningLab:
    lab.runtime.add("a", "node1")
    lab.runtime.add("b", "node1")
    lab.runtime.add("c", "node2")
    return lab


def path(hops: list, leg: str) -> list[tuple[str, str, str]]:
    return [(h.netns, h.ifname, h.direction) for h in hops if h.leg == leg]


def veth_of(lab: RunningLab, pod: str) -> str:
    found = lab.runtime.get(pod)
    assert found is not None
    return found.attachments[0].result["interfaces"][1]["name"]


def test_same_node_goes_pod_veth_bridge_veth_pod(pods: RunningLab) -> None:
    plan = pods.plan
    t = trace(plan, "a", "b")
    assert t.replied, t.why
    a, b, node = plan.pod_netns("a"), plan.pod_netns("b"), plan.node("node1").netns
    assert path(t.hops, "request") == [
        (a, "eth0", "out"),
        (node, veth_of(pods, "a"), "in"),
        (node, "cni0", "bridge"),
        (node, veth_of(pods, "b"), "out"),
        (b, "eth0", "in"),
    ]
    actions = [h.action for h in t.hops if h.leg == "request"]
    assert "enters bridge cni0" in actions[1] and "bridged out of cni0" in actions[3]
    assert f"behind port {veth_of(pods, 'b')} in its FDB" in actions[2]
    assert {h.ttl for h in t.hops} == {64}  # a bridge is not a router
    assert actions[-1] == "delivered to pod b"


def test_cross_node_shows_every_hop_ttl_and_mac_rewrite(pods: RunningLab) -> None:
    plan = pods.plan
    t = trace(plan, "a", "c")
    assert t.replied, t.why
    n1, n2, sw = plan.node("node1").netns, plan.node("node2").netns, plan.underlay_netns
    a, c = plan.pod_netns("a"), plan.pod_netns("c")
    assert path(t.hops, "request") == [
        (a, "eth0", "out"),
        (n1, veth_of(pods, "a"), "in"),
        (n1, "cni0", "in"),
        (n1, "eth0", "out"),
        (sw, "to-node1", "in"),
        (sw, "br0", "bridge"),
        (sw, "to-node2", "out"),
        (n2, "eth0", "in"),
        (n2, "cni0", "out"),
        (n2, veth_of(pods, "c"), "out"),
        (c, "eth0", "in"),
    ]
    request = [h for h in t.hops if h.leg == "request"]
    assert [h.ttl for h in request] == [64, 64, 64, 63, 63, 63, 63, 63, 62, 62, 62]
    assert request[3].src_mac != request[0].src_mac and request[3].dst_mac != request[0].dst_mac
    assert request[8].src_mac != request[7].src_mac  # node2 rewrote both MACs again
    assert "routed by node1 (TTL 64 -> 63" in request[3].action
    assert "routed by node2 (TTL 63 -> 62" in request[8].action
    reply = [h for h in t.hops if h.leg == "reply"]
    assert reply[0].netns == c and reply[-1].netns == a and reply[-1].ttl == 62
    assert [h.ms for h in t.hops] == sorted(h.ms for h in t.hops)
    assert {h.node for h in request if h.netns in (a, n1)} == {"node1"}


def test_egress_shows_the_masquerade(pods: RunningLab) -> None:
    t = trace(pods.plan, "c", "internet")
    assert t.replied, t.why
    out = next(
        h for h in t.hops if h.netns == pods.plan.node("node2").netns and h.direction == "out"
    )
    assert out.src_ip == "192.168.56.12"
    assert "masqueraded: source 10.244.1.2 -> 192.168.56.12" in out.action
    arrived = next(h for h in t.hops if h.netns == pods.plan.internet_netns)
    assert arrived.src_ip == "192.168.56.12" and arrived.action == "delivered to the internet"
    back = [h for h in t.hops if h.leg == "reply" and "un-NATed" in h.action]
    assert back and back[0].dst_ip == "10.244.1.2"


def test_a_removed_node_route_explains_the_drop(pods: RunningLab) -> None:
    node1 = pods.plan.node("node1")
    pods.sh(node1.netns, "ip", "route", "del", "10.244.1.0/24")
    t = trace(pods.plan, "a", "c", timeout=0.5)
    assert not t.replied
    assert "node1 has no route to 10.244.1.2" in t.why
    assert "no route to 10.244.1.2 in the internet" in t.why


@pytest.mark.parametrize("proto", ["icmp", "udp", "tcp"])
def test_a_pod_without_a_route_is_a_probe_that_never_left(pods: RunningLab, proto: str) -> None:
    # The kernel refuses the send itself (ENETUNREACH): a finding, not a crash.
    pods.sh(pods.plan.pod_netns("a"), "ip", "route", "flush", "default")
    t = trace(pods.plan, "a", "c", proto=proto, port=0 if proto == "icmp" else 8080)
    assert not t.replied and t.hops == []
    assert t.why.startswith("the probe never left the pod: "), t.why
    assert "no route to 10.244.1.2" in t.why, t.why


def test_forwarding_off_is_named(pods: RunningLab) -> None:
    node2 = pods.plan.node("node2")
    pods.sh(node2.netns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    t = trace(pods.plan, "a", "c", timeout=0.5)
    assert not t.replied
    assert "IP forwarding is off in node2" in t.why


@pytest.mark.parametrize(("proto", "words"), [("tcp", "TCP RST"), ("udp", "port closed")])
def test_tcp_and_udp_probes(pods: RunningLab, proto: str, words: str) -> None:
    t = trace(pods.plan, "a", "c", proto, 8080)
    assert t.replied, t.why
    assert path(t.hops, "request")[-1] == (pods.plan.pod_netns("c"), "eth0", "in")
    assert words in t.hops[-1].summary


def test_bad_input(pods: RunningLab) -> None:
    with pytest.raises(TraceError, match="no pod named"):
        trace(pods.plan, "nope", "c")
    with pytest.raises(TraceError, match="not a pod, a node"):
        trace(pods.plan, "a", "not-an-address")
    with pytest.raises(TraceError, match="needs --port"):
        trace(pods.plan, "a", "c", "tcp", 0)


def test_unrelated_traffic_is_left_out(pods: RunningLab) -> None:
    t = trace(pods.plan, "a", "node2")
    assert t.replied, t.why
    assert all("ICMP echo" in h.summary for h in t.hops)
    assert all(h.dst_ip in ("192.168.56.12", "10.244.0.2", "192.168.56.11") for h in t.hops)


def settled_tasks() -> int:
    """The process's kernel tasks once every joined thread has really left the kernel."""
    for _ in range(200):
        tasks = len(os.listdir("/proc/self/task"))
        if tasks == threading.active_count():
            return tasks
        time.sleep(0.01)
    return len(os.listdir("/proc/self/task"))


def test_a_hundred_traces_leak_nothing(pods: RunningLab) -> None:
    trace(pods.plan, "a", "c")  # warm up imports
    fds, threads, tasks = (
        len(os.listdir("/proc/self/fd")),
        threading.active_count(),
        settled_tasks(),
    )
    for _ in range(100):
        assert trace(pods.plan, "a", "b").replied
    assert len(os.listdir("/proc/self/fd")) == fds
    assert threading.active_count() == threads
    assert settled_tasks() == tasks
