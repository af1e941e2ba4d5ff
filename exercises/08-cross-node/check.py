"""Step 7: the student's routes replace the lab's, and a ping crosses nodes with TTL 62."""

from __future__ import annotations

import importlib.util
import ipaddress

from lab.exercises.checker import Checker
from lab.trace.tracer import trace


def _peer_routes(c: Checker) -> object:
    spec = importlib.util.spec_from_file_location("student_routes", c.file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.peer_routes


def _set_routes(c: Checker, netns: str, routes: list[tuple[str, str]]) -> None:
    for dst, via in routes:
        ipaddress.ip_network(dst)  # never hand the kernel what is not a CIDR
        ipaddress.ip_address(via)
        done = c.sh(netns, "ip", "route", "replace", dst, "via", via)
        c.expect(done.returncode == 0, f"`ip route replace {dst} via {via}`: {done.stderr}")


def check(c: Checker) -> None:
    nodes = [
        {"name": n.name, "pod_cidr": n.pod_cidr, "address": n.underlay_ip} for n in c.plan.nodes
    ]
    wanted = {
        n.name: [(o.pod_cidr, o.underlay_ip) for o in c.plan.nodes if o is not n]
        for n in c.plan.nodes
    }
    with c.step("peer_routes answers one route per other node", hint=1):
        peer_routes = _peer_routes(c)
        answers = {
            n["name"]: sorted(tuple(r) for r in peer_routes(n["name"], nodes)) for n in nodes
        }
        for name, routes in answers.items():
            c.expect(
                routes == sorted(wanted[name]),
                f"{name}: expected {sorted(wanted[name])}, got {routes}",
            )

    with c.step("two pods, one on each node", hint=2):
        a = c.runtime.add(c.pod_name("a"), "node1")
        b = c.runtime.add(c.pod_name("b"), "node2")
    b_ip = b.addresses()[0].split("/")[0]

    try:
        for node in c.plan.nodes:  # the lab's own routes out, the student's in
            for dst, _ in wanted[node.name]:
                c.sh(node.netns, "ip", "route", "del", dst)
        with c.step("without routes, the ping dies: the tracer says where", hint=2):
            lost = trace(c.plan, a.name, b.name, timeout=0.5)
            c.expect(not lost.replied, "the ping got through without routes?")
        with c.step("with your routes, pods on different nodes ping each other", hint=2):
            for node in c.plan.nodes:
                _set_routes(c, node.netns, answers[node.name])
            result = trace(c.plan, a.name, b.name)
            c.expect(result.replied, f"no reply: {result.why}")
        with c.step("it arrives with TTL 62: routed by node1, then node2", hint=3):
            arrived = [h for h in result.hops if h.leg == "request"][-1]
            c.expect(arrived.netns == b.netns and arrived.dst_ip == b_ip, "wrong destination")
            c.expect(arrived.ttl == 62, f"TTL {arrived.ttl}, expected 62")
            routed = [
                h.action for h in result.hops if "routed by" in h.action and h.leg == "request"
            ]
            c.expect(len(routed) == 2, f"expected two routers on the way, saw {routed}")
    finally:
        for node in c.plan.nodes:  # leave the lab as it was
            for dst, via in wanted[node.name]:
                c.sh(node.netns, "ip", "route", "replace", dst, "via", via)
