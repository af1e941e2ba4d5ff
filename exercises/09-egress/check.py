"""Step 9: the student's `ensure_masquerade(pod_cidrs)` builds every node's masquerade
chain, in a throwaway lab of 3 nodes that have none.

Their code runs inside each node (a child process in the node's namespace, so a
crash names the line of their file), with the pod CIDRs of the cluster's nodes.
Traces of pods made by the student's own ADD then judge it from where it shows: the
internet's namespace must see each node's own underlay address, a pod on the next
node must see the sending pod's own address. When node3 leaves, its CIDR is no
longer a pod network and traffic to it must be masqueraded: a hard-coded pod network
cannot follow. A second run must leave the chain as it was, another table on the
node must survive, and a host address must be refused before anything changes.
"""

from __future__ import annotations

import json
from typing import Any

from lab.cluster.plan import Node, Plan
from lab.exercises.checker import Checker
from lab.exercises.student_call import FunctionRun
from lab.runtime.pods import Pod
from lab.trace.hops import Hop
from lab.trace.tracer import Trace, trace

TABLE = "ip cnilab"
DECOY_TABLE = "ip filter-by-someone"  # another program's table: it must survive
DECOY = (
    ("add", "table", "ip", "filter-by-someone"),
    ("add", "chain", "ip", "filter-by-someone", "keep"),
    ("add", "rule", "ip", "filter-by-someone", "keep", "counter"),
)
BAD_CIDR = "10.244.0.1/24"  # a host address, not a network


def run_masquerade(c: Checker, node: Node, cidrs: list[str]) -> FunctionRun:
    return c.run_function("ensure_masquerade", cidrs, netns=node.netns)


def run_on(c: Checker, nodes: list[Node], members: list[Node], why: str) -> None:
    cidrs = [n.pod_cidr for n in members]
    for node in nodes:
        done = run_masquerade(c, node, cidrs)
        c.expect(done.ok, f"ensure_masquerade({cidrs}) on {node.name} {why} failed: {done.error}")


def ruleset(c: Checker, node: Node, table: str = TABLE) -> list[dict[str, Any]]:
    """A table's chains and rules as nft shows them, without handles (they change)."""
    done = c.sh(node.netns, "nft", "-j", "list", "table", *table.split())
    if done.returncode != 0:
        return []
    items = json.loads(done.stdout).get("nftables", [])
    kept = []
    for item in items:
        for kind, body in item.items():
            if kind != "metainfo":
                kept.append({kind: {k: v for k, v in body.items() if k != "handle"}})
    return kept


def rules_text(c: Checker, node: Node) -> str:
    done = c.sh(node.netns, "nft", "list", "table", *TABLE.split())
    return done.stdout.strip() or f"no table {TABLE}"


def address(pod: Pod) -> str:
    return pod.addresses()[0].split("/")[0]


def hop(t: Trace, netns: str, direction: str = "in") -> Hop | None:
    return next(
        (
            h
            for h in t.hops
            if h.leg == "request"
            and h.netns == netns
            and h.ifname == "eth0"
            and h.direction == direction
        ),
        None,
    )


def expect_source(
    c: Checker, lab: Plan, pod: Pod, dst: str, where: str, want: str, why: str
) -> None:
    """A traced ping from `pod` to `dst` arrives at `where`'s eth0 with source `want`."""
    out = trace(lab, pod.name, dst)
    node = lab.node(pod.node)
    c.expect(out.replied, f"no reply to the pod on {node.name} from {dst}: {out.why}{why}")
    seen = hop(out, where)
    c.expect(seen is not None, f"the trace never saw the ping arrive in {where}")
    assert seen is not None
    c.expect(
        seen.src_ip == want,
        f"{where} saw the ping from the pod on {node.name} come from {seen.src_ip}, not "
        f"{want}{why}. {node.name}'s chain:\n{rules_text(c, node)}",
    )


def check(c: Checker) -> None:
    with c.scratch_lab(nodes=3, bare={"masquerade"}) as lab:
        n1, n2, n3 = lab.nodes
        for node in lab.nodes:
            for command in DECOY:
                c.sh(node.netns, "nft", *command)
        with c.step("ensure_masquerade runs on every node", hint=1):
            run_on(c, lab.nodes, lab.nodes, "on a node with no NAT rules")
        with c.step("another table on the node is left as it was", hint=4):
            for node in lab.nodes:
                found = ruleset(c, node, DECOY_TABLE)
                c.expect(found, f"the table filter-by-someone vanished from {node.name}")
        with c.step("a pod made by your ADD (step 6) on each node"):
            add = c.earlier("add")
            pods = [c.add_pod(n.name, n.name, plugin=add, lab=lab) for n in lab.nodes]
        with c.step("every node's pods reach the internet with their node's address", hint=2):
            for pod, node in zip(pods, lab.nodes, strict=True):
                expect_source(
                    c,
                    lab,
                    pod,
                    "internet",
                    lab.internet_netns,
                    node.underlay_ip,
                    " (the internet has no route back to pod addresses: the node must "
                    "rewrite them as they leave)",
                )
        with c.step("pod to pod across nodes keeps the pod's own address, on every node", hint=3):
            for i, pod in enumerate(pods):
                other = pods[(i + 1) % len(pods)]
                expect_source(
                    c,
                    lab,
                    pod,
                    other.name,
                    lab.node(other.node).netns,
                    address(pod),
                    f" (the pod on {other.node} must see the real pod address)",
                )
        with c.step("a second run leaves the chain exactly as it was", hint=4):
            before = {n.name: ruleset(c, n) for n in lab.nodes}
            run_on(c, lab.nodes, lab.nodes, "a second time")
            for node in lab.nodes:
                c.expect(
                    ruleset(c, node) == before[node.name],
                    f"{node.name}'s {TABLE} changed on the second run; now:\n{rules_text(c, node)}",
                )
        with c.step("node3 leaves: traffic to its CIDR is no longer pod to pod", hint=3):
            run_on(c, [n1, n2], [n1, n2], "once node3 left")
            expect_source(
                c,
                lab,
                pods[0],
                pods[2].name,
                n3.netns,
                n1.underlay_ip,
                f" ({n3.pod_cidr} is not a pod network of the cluster any more: only the "
                "CIDRs you are given are)",
            )
            expect_source(
                c,
                lab,
                pods[0],
                pods[1].name,
                n2.netns,
                address(pods[0]),
                " (node2 is still in the cluster)",
            )
        with c.step(f"{BAD_CIDR} (a host address) is refused, and nothing changes", hint=5):
            expect_refusal(c, n1)
    if "masquerade" in c.plan.bare:
        with c.step(
            "your lab's nodes get your chain (it was started with --bare masquerade)", hint=1
        ):
            run_on(c, list(c.plan.nodes), list(c.plan.nodes), "on your lab")


def expect_refusal(c: Checker, node: Node) -> None:
    was = ruleset(c, node)
    done = run_masquerade(c, node, ["10.244.1.0/24", BAD_CIDR])
    c.expect(
        not done.ok and done.kind.endswith("ValueError"),
        f"ensure_masquerade must raise ValueError for {BAD_CIDR!r}: it is an address, "
        f"10.244.0.0/24 is a network; {'it returned' if done.ok else done.error}",
    )
    c.expect(
        ruleset(c, node) == was,
        f"{node.name}'s chain changed before your code refused its input:\n{rules_text(c, node)}",
    )
