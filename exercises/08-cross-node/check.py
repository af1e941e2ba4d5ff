"""Step 8: the student's `reconcile_routes(me, nodes)` keeps each node's routes to the
other nodes' pods, in a throwaway lab of 3 nodes that have none.

The cluster changes under it as under kindnet: two nodes, then node3 joins, then
node2 leaves. After each change the student's code runs inside every remaining node
(a child process in the node's namespace, so a crash names the line of their file)
and pods made by the student's own ADD ping across nodes: a missing or wrong route
is a lost ping, reported with the route the node used instead. Routes the student did
not make (a service range via a node, a stray pod-range route, the default and the
connected routes) must survive every run, and bad input must change nothing.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from lab.cluster.plan import Node, Plan
from lab.exercises.checker import Checker
from lab.exercises.student_call import FunctionRun
from lab.runtime.pods import Pod

# Someone else's routes on every node: a service range via a node's address (kube-proxy
# style, `proto static`) and a pod-range route to no node at all (made by hand).
DECOYS = (("10.96.0.0/16", 1, "static"), ("10.244.99.0/24", None, "boot"))
BAD_CIDR = "10.244.7.5/24"  # a host address, not a network


def cluster(*nodes: Node) -> list[dict[str, str]]:
    """The node list as a controller sees it (kindnet reads it from the API server)."""
    return [{"name": n.name, "pod_cidr": n.pod_cidr, "address": n.underlay_ip} for n in nodes]


def run_reconcile(c: Checker, node: Node, nodes: list[dict[str, str]]) -> FunctionRun:
    return c.run_function("reconcile_routes", node.name, nodes, netns=node.netns)


def reconcile_all(c: Checker, nodes: list[Node], why: str) -> None:
    listed = cluster(*nodes)
    for node in nodes:
        done = run_reconcile(c, node, listed)
        c.expect(done.ok, f"reconcile_routes({node.name!r}, ...) {why} failed: {done.error}")


def routes(c: Checker, node: Node) -> list[dict[str, Any]]:
    return json.loads(c.sh(node.netns, "ip", "-j", "route", "show", "table", "main").stdout)


def route_to(c: Checker, node: Node, cidr: str) -> dict[str, Any] | None:
    return next((r for r in routes(c, node) if r.get("dst") == cidr), None)


def shown(route: dict[str, Any] | None) -> str:
    if route is None:
        return "no route"
    via = f" via {route['gateway']}" if "gateway" in route else f" dev {route.get('dev')}"
    return f"{route.get('dst')}{via}"


def address(pod: Pod) -> str:
    return pod.addresses()[0].split("/")[0]


def expect_reach(c: Checker, lab: Plan, pods: dict[str, Pod], pairs: list[tuple[str, str]]) -> None:
    """Each (from node, to node): the pod on one pings the pod on the other."""
    for src, dst in pairs:
        target = address(pods[dst])
        if c.pings(pods[src].netns, target):
            continue
        sender, receiver = lab.node(src), lab.node(dst)
        there = shown(route_to(c, sender, receiver.pod_cidr))
        back = shown(route_to(c, receiver, sender.pod_cidr))
        c.expect(
            False,
            f"the pod on {src} gets no reply from the pod on {dst} ({target}). {src} has "
            f"{there} for {receiver.pod_cidr} (want via {receiver.underlay_ip}); {dst} has "
            f"{back} for the way back to {sender.pod_cidr} (want via {sender.underlay_ip})",
        )


def expect_routes(c: Checker, node: Node, peers: list[Node]) -> None:
    for peer in peers:
        found = route_to(c, node, peer.pod_cidr)
        c.expect(
            found is not None and found.get("gateway") == peer.underlay_ip,
            f"{node.name} has {shown(found)} for {peer.name}'s pods, want "
            f"{peer.pod_cidr} via {peer.underlay_ip}",
        )


def plant_decoys(c: Checker, lab: Plan) -> dict[str, list[str]]:
    """Someone else's routes on every node; returns each node's routes before any run."""
    before = {}
    for node in lab.nodes:
        for dst, via_node, proto in DECOYS:
            via = lab.nodes[via_node].underlay_ip if via_node is not None else "192.168.56.1"
            c.sh(node.netns, "ip", "route", "add", dst, "via", via, "proto", proto)
        before[node.name] = [shown(r) for r in routes(c, node)]
    return before


def expect_decoys(c: Checker, node: Node, before: list[str]) -> None:
    now = [shown(r) for r in routes(c, node)]
    gone = [r for r in before if r not in now]
    c.expect(not gone, f"{node.name} lost routes your code did not make: {', '.join(gone)}")


def check(c: Checker) -> None:
    with c.scratch_lab(nodes=3, bare={"routes"}) as lab:
        n1, n2, n3 = lab.nodes
        before = plant_decoys(c, lab)
        with c.step("reconcile_routes runs on node1 and node2, a cluster of two", hint=1):
            reconcile_all(c, [n1, n2], "on a node with no routes yet")
        with c.step("a pod on each node, made by your ADD (step 6)"):
            add = c.earlier("add")
            pods = {n.name: c.add_pod(n.name, n.name, plugin=add, lab=lab) for n in lab.nodes}
        with c.step("the pod on node1 and the pod on node2 ping each other", hint=2):
            expect_reach(c, lab, pods, [("node1", "node2"), ("node2", "node1")])
        with c.step(
            "node3 joins: after a second run, every node's pods reach every other's", hint=3
        ):
            reconcile_all(c, [n1, n2, n3], "once node3 joined (a second run on node1, node2)")
            expect_reach(
                c, lab, pods, [(a.name, b.name) for a in lab.nodes for b in lab.nodes if a is not b]
            )
        with c.step("each node routes each peer's pod CIDR via that peer's address", hint=2):
            for node in lab.nodes:
                expect_routes(c, node, [p for p in lab.nodes if p is not node])
        with c.step(
            "node2 leaves: its pod CIDR is no longer routed, node1 and node3 still are", hint=4
        ):
            reconcile_all(c, [n1, n3], "once node2 left")
            for node in (n1, n3):
                stale = route_to(c, node, n2.pod_cidr)
                c.expect(stale is None, f"{node.name} still has {shown(stale)}: node2 is gone")
            expect_reach(c, lab, pods, [("node1", "node3"), ("node3", "node1")])
        with c.step("the routes your code did not make are all still there", hint=4):
            for node in lab.nodes:
                expect_decoys(c, node, before[node.name])
        with c.step(
            f"a node list with {BAD_CIDR} (a host address) is refused, and nothing changes", hint=5
        ):
            expect_refusal(c, n1, [n1, n3])
    if "routes" in c.plan.bare:
        with c.step("your lab's nodes get your routes (it was started with --bare routes)", hint=1):
            reconcile_all(c, list(c.plan.nodes), "on your lab")


def expect_refusal(c: Checker, node: Node, members: list[Node]) -> None:
    listed = cluster(*members)
    newcomer = {"name": "node9", "pod_cidr": "10.244.8.0/24", "address": "192.168.56.19"}
    broken = {"name": "node8", "pod_cidr": BAD_CIDR, "address": "192.168.56.18"}
    was = [shown(r) for r in routes(c, node)]
    done = run_reconcile(c, node, [*listed, newcomer, broken])
    c.expect(
        not done.ok and done.kind.endswith("ValueError"),
        f"reconcile_routes must raise ValueError for pod_cidr {BAD_CIDR!r} ("
        f"{ipaddress.ip_interface(BAD_CIDR).network} is a network, it is not); "
        f"{'it returned' if done.ok else done.error}",
    )
    now = [shown(r) for r in routes(c, node)]
    c.expect(
        now == was,
        f"{node.name}'s routes changed before your code refused its input: "
        f"{sorted(set(now) ^ set(was))}",
    )
