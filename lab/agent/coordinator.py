"""One trace across node agents, the same phases as the embedded tracer, spread out:

1. look up: every agent's snapshot says which pods it holds (and the nodes' addresses);
2. arm: every agent opens its sniffers for the probe's marker;
3. send: the source pod's agent sends the probe, then collects until its reply is home;
4. collect: the other agents hand over what they saw meanwhile;
5. build: the frames in path order (lab/trace/order.py, not by wall time), each hop
   described from the facts the agents sent; if no reply came, the agent holding the
   last hop's namespace is asked why (lab.trace.diagnose through /v1/ask).

An agent that does not answer is left out, and said so in the trace's "agents".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from lab.agent.client import AgentClient, AgentError, AgentRef
from lab.agent.merge import Directory, DirectoryError
from lab.agent.wire import Facts, facts_from_dict, sighting_from_dict
from lab.trace.diagnose import Kernel
from lab.trace.order import Sighting, path_hops
from lab.trace.probe import Probe
from lab.trace.tracer import DEFAULT_TIMEOUT, Trace, TraceError, check_probe, finish

T = TypeVar("T")
ARM_SLACK = 10.0  # an armed capture outlives the trace's timeout by this much, then closes


def _each(fn: Callable[[AgentClient], T], clients: list[AgentClient]) -> dict[AgentClient, Any]:
    """`fn` on every client at once: its result, or the AgentError it raised."""
    if not clients:
        return {}
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = {c: pool.submit(fn, c) for c in clients}
    out: dict[AgentClient, Any] = {}
    for client, future in futures.items():
        try:
            out[client] = future.result()
        except AgentError as e:
            out[client] = e
    return out


def _correction(client: AgentClient) -> float:
    """The offset to take off the agent's timestamps: none when the estimate is within
    its own uncertainty (half the network delay), as for clocks kept by NTP, or one."""
    clock = client.clock
    if clock is None or abs(clock.offset) <= clock.delay / 2:
        return 0.0
    return clock.offset


def _kernel(by_node: dict[str, AgentClient]) -> Kernel:
    """The diagnosis' questions, put to the agent holding the namespace."""

    def client_of(netns: str) -> AgentClient:
        return by_node[netns.split("/", 1)[0]]

    def ask(netns: str, dst: str, where: str) -> str:
        try:
            return client_of(netns).ask(netns, dst, "route", where) or ""
        except (AgentError, KeyError) as e:
            return f"{where} could not be asked ({e})"

    def default_gateway(netns: str, dst: str) -> str | None:
        try:
            return client_of(netns).ask(netns, dst, "default-gateway")
        except (AgentError, KeyError):
            return None

    return Kernel(ask, default_gateway)


def trace_across(
    refs: list[AgentRef],
    src: str,
    dst: str,
    proto: str = "icmp",
    port: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Trace:
    check_probe(proto, port, timeout)
    if not refs:
        raise TraceError("no node agents are configured")
    started = time.monotonic()
    clients = [AgentClient(ref) for ref in refs]
    snaps = _each(lambda c: c.snapshot(), clients)
    report = {c: {"name": c.name, "node": "", "error": ""} for c in clients}
    by_node: dict[str, AgentClient] = {}
    for client, snap in snaps.items():
        if isinstance(snap, AgentError):
            report[client]["error"] = str(snap)
        else:
            report[client]["node"] = node = snap.get("graph", {}).get("node", client.name)
            by_node[node] = client
    directory = Directory([s for s in snaps.values() if not isinstance(s, AgentError)])
    try:
        pod = directory.pod(src)
        dst_ip = directory.resolve(dst)
    except DirectoryError as e:
        raise TraceError(str(e)) from None

    result = Trace(src, dst, dst_ip, proto, port if proto != "icmp" else 0)
    probe = Probe(proto, dst_ip, port)
    home, collected, sent_at = _run(probe, by_node, pod.node, pod.netns, timeout, report)
    sightings: list[Sighting] = []
    facts: dict[str, Facts] = {}
    labels = {pod.netns: f"pod {pod.name}"}
    for node, answer in collected.items():
        sightings += [sighting_from_dict(node, f) for f in answer.get("frames", [])]
        for netns, d in answer.get("namespaces", {}).items():
            labels[netns], facts[netns] = facts_from_dict(d)
    offsets = {node: _correction(c) for node, c in by_node.items()}
    result.replied = bool(home.get("replied"))
    result.hops = path_hops(sightings, pod.node, sent_at, offsets)
    finish(result, facts, labels, pod.netns, _kernel(by_node))
    for client, entry in report.items():
        if client.clock is not None:
            entry["offset_ms"] = round(client.clock.offset * 1000, 3)
            entry["delay_ms"] = round(client.clock.delay * 1000, 3)
            entry["corrected"] = _correction(client) != 0.0
    result.agents = list(report.values())
    result.ms = round((time.monotonic() - started) * 1000, 1)
    return result


def _run(
    probe: Probe,
    by_node: dict[str, AgentClient],
    src_node: str,
    src_netns: str,
    timeout: float,
    report: dict[AgentClient, dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], float]:
    """Arm, send, collect: (the source agent's answer, every answer by node, sent_at)."""
    source = by_node[src_node]
    marker = probe.marker()
    armed: dict[AgentClient, str] = {}
    try:
        arms = _each(lambda c: c.arm(marker, timeout + ARM_SLACK), [*by_node.values()])
        for client, cid in arms.items():
            if isinstance(cid, AgentError):
                report[client]["error"] = str(cid)
            else:
                armed[client] = cid
        if source not in armed:
            raise TraceError(f"cannot trace from {src_node}: {report[source]['error']}")
        sent_at = source.send(armed[source], src_netns)
        home = source.collect(armed.pop(source), True, timeout)
        rest, armed = armed, {}
        answers = _each(lambda c: c.collect(rest[c], False, 0), list(rest))
    except AgentError as e:
        raise TraceError(str(e)) from e
    finally:
        for client, cid in armed.items():  # not collected: close them now, not at their ttl
            with contextlib.suppress(AgentError):
                client.cancel(cid)
    collected = {src_node: home}
    node_of = {c: node for node, c in by_node.items()}
    for client, answer in answers.items():
        if isinstance(answer, AgentError):
            report[client]["error"] = str(answer)
        else:
            collected[node_of[client]] = answer
    return home, collected, sent_at
