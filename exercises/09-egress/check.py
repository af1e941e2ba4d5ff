"""Step 8: the student's masquerade rule, loaded into node1 in place of the lab's, judged
by traces: to the internet the source must become node1's, to a pod it must stay the pod's.

node1's own rule is always put back at the end, whatever happened.
"""

from __future__ import annotations

import json
import subprocess
import sys

from lab.cluster import node_setup
from lab.exercises.checker import Checker
from lab.kernel.netns import run_in_netns
from lab.trace.hops import Hop
from lab.trace.tracer import Trace, trace

NODE, PEER = "node1", "node2"
# Runs the student's file in a child process: a bad file cannot hang or kill the checker.
CALL = (
    "import json, runpy, sys\n"
    "ns = runpy.run_path(sys.argv[1])\n"
    "print(json.dumps(ns['masquerade_statement'](sys.argv[2])))\n"
)


def _statement(c: Checker) -> str:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", CALL, str(c.file), c.plan.pod_network],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        c.expect(False, f"calling masquerade_statement({c.plan.pod_network!r}) failed: {last}")
    lines = proc.stdout.strip().splitlines()
    value = json.loads(lines[-1]) if lines else None
    c.expect(isinstance(value, str), f"masquerade_statement must return a str, not {value!r}")
    return value


def _load(c: Checker, statement: str) -> subprocess.CompletedProcess[str]:
    """Replace node1's NAT rule by the student's, in one nft transaction (all or nothing)."""
    chain = f"ip {node_setup.NAT_TABLE} {node_setup.NAT_CHAIN}"
    script = f"flush chain {chain}\nadd rule {chain} {statement}\n"
    return subprocess.run(
        ["nsenter", f"--net={c.plan.node(NODE).netns_path}", "--", "nft", "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def _restore(c: Checker) -> None:
    """The lab's own rule, exactly as `cnilab up` made it."""
    run_in_netns(
        c.plan.node(NODE).netns_path, lambda: node_setup.ensure_masquerade(c.plan.pod_network)
    )


def _hop(t: Trace, netns: str, ifname: str, direction: str) -> Hop | None:
    return next(
        (
            h
            for h in t.hops
            if h.leg == "request"
            and h.netns == netns
            and h.ifname == ifname
            and h.direction == direction
        ),
        None,
    )


def check(c: Checker) -> None:
    node, peer = c.plan.node(NODE), c.plan.node(PEER)
    with c.step("masquerade_statement() returns one nft rule", hint=1):
        statement = _statement(c).strip()
        c.expect(statement, "masquerade_statement returned an empty rule")
        c.expect(
            "\n" not in statement and ";" not in statement,
            "return one rule: no newline or ';' inside",
        )

    with c.step("a pod on node1 and one on node2 (wired by the lab's pycni)"):
        pod = c.runtime.add(c.pod_name("a"), NODE)
        other = c.runtime.add(c.pod_name("b"), PEER)
    pod_ip = pod.addresses()[0].split("/")[0]
    other_ip = other.addresses()[0].split("/")[0]

    try:
        with c.step("nft loads your rule into node1's postrouting chain", hint=1):
            loaded = _load(c, statement)
            c.expect(
                loaded.returncode == 0,
                f"nft refused `{statement}`: {loaded.stderr.strip()[-400:]}",
            )

        with c.step("a pod on node1 gets a reply from the internet", hint=2):
            out = trace(c.plan, pod.name, "internet")
            c.expect(
                out.replied,
                f"no reply from {c.plan.internet_address}: {out.why or 'the probe was lost'}. "
                "The internet has no route back to pod addresses: the node must rewrite them",
            )

        with c.step(f"the trace shows node1 rewriting the source to {node.underlay_ip}", hint=2):
            hop = _hop(out, node.netns, "eth0", "out")
            c.expect(hop is not None, "the trace never saw the ping leave node1's eth0")
            c.expect(
                hop.src_ip == node.underlay_ip,
                f"the ping left node1 with source {hop.src_ip}, not node1's {node.underlay_ip}",
            )

        with c.step("pod-to-pod across nodes keeps the pod's own address", hint=3):
            out = trace(c.plan, pod.name, other.name)
            c.expect(out.replied, f"no reply from pod {other.name} ({other_ip}): {out.why}")
            hop = _hop(out, peer.netns, "eth0", "in")
            c.expect(hop is not None, "the trace never saw the ping arrive at node2's eth0")
            c.expect(
                hop.src_ip == pod_ip,
                f"node2 received the ping from {hop.src_ip}, not from the pod ({pod_ip}): "
                "your rule masqueraded traffic between pods too",
            )
    finally:
        _restore(c)
