"""`cnilab trace SRC DST`: follow one probe hop by hop through every lab namespace.

1. open a packet socket in every lab namespace (before the probe leaves: no missed hop);
2. send one marked probe from SRC's namespace;
3. collect until the reply is back in SRC (or the timeout);
4. keep only the probe's frames, order them by kernel timestamp, say what happened
   at each hop, and if no reply came, ask the last namespace's kernel why.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import IPRoute

from lab.cluster.plan import Plan
from lab.kernel.netns import list_netns, run_in_netns
from lab.runtime.pods import Runtime
from lab.trace.capture import Frame, Sniffers
from lab.trace.diagnose import explain_stop
from lab.trace.hops import Hop, LinkInfo, build_hops, describe
from lab.trace.packets import REPLY, REQUEST, Seen, classify
from lab.trace.probe import PROTOCOLS, Probe

DEFAULT_TIMEOUT = 1.0
SETTLE = 0.05  # after the reply: frames of the last hops still in the sockets


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

    def to_dict(self) -> dict[str, Any]:
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
        }


def resolve_dst(plan: Plan, runtime: Runtime, dst: str) -> str:
    """A pod, a node, `internet`, or an IPv4 address."""
    pod = runtime.get(dst)
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


def _labels(plan: Plan, runtime: Runtime) -> tuple[dict[str, str], dict[str, str]]:
    """Readable names and the node of each lab namespace."""
    labels = {plan.underlay_netns: "the underlay switch", plan.internet_netns: "the internet"}
    node_of = {}
    for node in plan.nodes:
        labels[node.netns] = node.name
        node_of[node.netns] = node.name
    for pod in runtime.list():
        labels[pod.netns] = f"pod {pod.name}"
        node_of[pod.netns] = pod.node
    return labels, node_of


def _facts_of(netns: str) -> tuple[dict[str, LinkInfo], set[str]]:
    """Each interface's kind and bridge, and the namespace's own addresses."""

    def read() -> tuple[dict[str, LinkInfo], set[str]]:
        with IPRoute() as ipr:
            msgs = ipr.link("dump")
            local = {m.get("address") for m in ipr.addr("dump", family=2)}
        names = {m["index"]: m.get("ifname") for m in msgs}
        links = {
            m.get("ifname"): LinkInfo(
                kind=m.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "",
                master=names.get(m.get("master") or 0, ""),
            )
            for m in msgs
        }
        return links, local

    return run_in_netns(f"/run/netns/{netns}", read)


def trace(
    plan: Plan,
    src: str,
    dst: str,
    proto: str = "icmp",
    port: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Trace:
    runtime = Runtime(plan)
    pod = runtime.get(src)
    if pod is None:
        raise TraceError(f"no pod named {src!r}")
    if proto not in PROTOCOLS:
        raise TraceError(f"--proto must be one of {', '.join(PROTOCOLS)}")
    if proto != "icmp" and not 1 <= port <= 65535:
        raise TraceError(f"{proto} needs --port between 1 and 65535")
    if not 0.1 <= timeout <= 10:
        raise TraceError("timeout must be between 0.1 and 10 seconds")
    dst_ip = resolve_dst(plan, runtime, dst)
    labels, node_of = _labels(plan, runtime)
    namespaces = [ns for ns in list_netns() if ns in labels or ns.startswith(f"{plan.prefix}-")]

    result = Trace(src, dst, dst_ip, proto, port if proto != "icmp" else 0)
    probe = Probe(proto, dst_ip, port)
    seen: list[tuple[Frame, Seen]] = []
    started = time.monotonic()
    with Sniffers(namespaces) as sniffers:
        sniffers.drain()
        try:
            probe.send(pod.netns)
            deadline = started + timeout
            settle_until = None
            while True:
                now = time.monotonic()
                limit = settle_until if settle_until is not None else deadline
                if now >= limit:
                    break
                for frame in sniffers.read(min(limit - now, 0.05)):
                    hit = classify(frame.data, probe)
                    if hit is None:
                        continue
                    seen.append((frame, hit))
                    back_home = hit.leg == REPLY and frame.netns == pod.netns
                    if back_home and not frame.outgoing and settle_until is None:
                        result.replied = True
                        settle_until = time.monotonic() + SETTLE
        finally:
            probe.close()
    result.hops = build_hops(seen, probe.sent_at, node_of)
    facts = {ns: _facts_of(ns) for ns in {h.netns for h in result.hops}}
    links = {(ns, name): info for ns, (named, _) in facts.items() for name, info in named.items()}
    describe(result.hops, links, labels, {ns: local for ns, (_, local) in facts.items()})
    if not result.replied:
        requests = [h for h in result.hops if h.leg == REQUEST]
        result.why = explain_stop(requests, pod.netns, dst_ip, labels)
    result.ms = round((time.monotonic() - started) * 1000, 1)
    return result
