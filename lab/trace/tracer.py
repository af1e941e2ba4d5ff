"""`cnilab trace SRC DST`: follow one probe hop by hop through every lab namespace.

1. arm: open a packet socket in every namespace the probe can pass (before it leaves:
   no missed hop): the source pod, every pod holding the destination address, every
   node, the underlay and the internet; not the other pods, so the cost does not grow
   with the pod count;
2. send one marked probe from SRC's namespace;
3. collect until the reply is back in SRC (or the timeout), keeping the probe's frames;
4. build: order them by kernel timestamp, say what happened at each hop, and if no
   reply came, ask the last namespace's kernel why.

The phases live in session.py (arm, collect) and here (`finish`), so that node agents
(lab/agent) run the same steps, each on its own node, for a coordinator.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from lab.cluster.plan import Plan, is_pod_name
from lab.kernel.netns import list_netns
from lab.runtime.pods import Pod, Runtime
from lab.trace.diagnose import LOCAL, Kernel, explain_stop
from lab.trace.facts import facts_of
from lab.trace.hops import Hop, LinkInfo, add_bridge_hops, build_hops, describe
from lab.trace.packets import REQUEST
from lab.trace.probe import PROTOCOLS, Probe
from lab.trace.session import Capture

DEFAULT_TIMEOUT = 1.0
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 10.0
Facts = dict[str, tuple[dict[str, LinkInfo], set[str]]]  # netns -> (links by name, own IPs)


class TraceError(ValueError):
    pass


@dataclass
class Trace:
    src: str
    dst: str
    dst_ip: str
    proto: str
    port: int
    hops: list[Hop] = field(default_factory=list)
    replied: bool = False
    why: str = ""
    ms: float = 0.0
    agents: list[dict[str, Any]] = field(default_factory=list)  # node agents: clocks, errors

    def to_dict(self) -> dict[str, Any]:
        extra = {"agents": self.agents} if self.agents else {}
        return {
            "src": self.src,
            "dst": self.dst,
            "dst_ip": self.dst_ip,
            "proto": self.proto,
            "port": self.port,
            "replied": self.replied,
            "why": self.why,
            "ms": self.ms,
            "hops": [h.to_dict() for h in self.hops],
            **extra,
        }


def check_probe(proto: str, port: int, timeout: float) -> None:
    """Refuse a probe that cannot be sent (the CLI, the API and the coordinator alike)."""
    if proto not in PROTOCOLS:
        raise TraceError(f"--proto must be one of {', '.join(PROTOCOLS)}")
    if proto != "icmp" and not 1 <= port <= 65535:
        raise TraceError(f"{proto} needs --port between 1 and 65535")
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise TraceError(f"timeout must be between {MIN_TIMEOUT} and {MAX_TIMEOUT:g} seconds")


def resolve_dst(plan: Plan, runtime: Runtime, dst: str) -> str:
    """A pod, a node, `internet`, or an IPv4 address."""
    pod = runtime.get(dst) if is_pod_name(dst) else None
    if pod is not None:
        if not pod.addresses():
            raise TraceError(f"pod {dst!r} has no address")
        return pod.addresses()[0].split("/")[0]
    for node in plan.nodes:
        if node.name == dst:
            return node.underlay_ip
    if dst == "internet":
        return plan.internet_address
    try:
        return str(ipaddress.IPv4Address(dst))
    except ValueError:
        raise TraceError(f"{dst!r} is not a pod, a node, 'internet' or an IPv4 address") from None


def _labels(plan: Plan, pods: list[Pod]) -> tuple[dict[str, str], dict[str, str]]:
    """Readable names and the node of each lab namespace."""
    labels = {plan.underlay_netns: "the underlay switch", plan.internet_netns: "the internet"}
    node_of = {}
    for node in plan.nodes:
        labels[node.netns] = node.name
        node_of[node.netns] = node.name
    for pod in pods:
        labels[pod.netns] = f"pod {pod.name}"
        node_of[pod.netns] = pod.node
    return labels, node_of


def reachable(plan: Plan, pods: list[Pod], src: Pod, dst_ip: str) -> list[str]:
    """The namespaces a probe from `src` to `dst_ip` (and its reply) can pass through."""
    holders = [p.netns for p in pods if any(a.split("/")[0] == dst_ip for a in p.addresses())]
    lab = [n.netns for n in plan.nodes] + [plan.underlay_netns, plan.internet_netns]
    wanted = {src.netns, *holders, *lab}
    # in /run/netns order, as before: frames the kernel stamps alike keep their order
    return [ns for ns in list_netns() if ns in wanted]


def finish(
    result: Trace, facts: Facts, labels: dict[str, str], src_netns: str, kernel: Kernel = LOCAL
) -> None:
    """The build phase's words, once the hops are in path order: what happened at each
    hop, and if no reply came, why (asked of `kernel`)."""
    links = {(ns, name): info for ns, (named, _) in facts.items() for name, info in named.items()}
    result.hops = add_bridge_hops(result.hops, links)
    describe(result.hops, links, labels, {ns: local for ns, (_, local) in facts.items()})
    if not result.replied:
        requests = [h for h in result.hops if h.leg == REQUEST]
        result.why = explain_stop(requests, src_netns, result.dst_ip, labels, kernel)


def trace(
    plan: Plan,
    src: str,
    dst: str,
    proto: str = "icmp",
    port: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Trace:
    runtime = Runtime(plan)
    pod = runtime.get(src) if is_pod_name(src) else None
    if pod is None:
        raise TraceError(f"no pod named {src!r}")
    check_probe(proto, port, timeout)
    dst_ip = resolve_dst(plan, runtime, dst)
    pods = runtime.list()
    labels, node_of = _labels(plan, pods)
    namespaces = reachable(plan, pods, pod, dst_ip)

    result = Trace(src, dst, dst_ip, proto, port if proto != "icmp" else 0)
    probe = Probe(proto, dst_ip, port)
    started = time.monotonic()
    with Capture(namespaces, probe) as capture:
        try:
            capture.home = pod.netns
            probe.send(pod.netns)
            if not probe.refused:  # else nothing left: there is nothing to wait for
                capture.collect(started + timeout)
        finally:
            probe.close()
    result.replied = capture.replied
    result.hops = build_hops(capture.seen, probe.sent_at, node_of)
    finish(result, {ns: facts_of(ns) for ns in {h.netns for h in result.hops}}, labels, pod.netns)
    result.ms = round((time.monotonic() - started) * 1000, 1)
    return result
