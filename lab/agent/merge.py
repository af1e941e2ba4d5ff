"""Several agents' snapshots as one graph, and where things are in it.

Each agent already qualified its ids with its node's name (tag.py), so the merged
graph is the plain union of the parts. Namespaces keep their `node` attribute, which
is what puts them in that node's column on the page. The graph attribute "agents"
says which agents answered; an agent that did not, or that claims a node another
agent already serves, contributes nothing (and says why there).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from lab.agent.client import AgentRef
from lab.cluster.plan import INTERNET_ADDRESS


@dataclass(frozen=True)
class Part:
    ref: AgentRef
    snapshot: dict[str, Any] | None
    error: str = ""


def merge_snapshots(parts: list[Part], seq: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    agents: list[dict[str, Any]] = []
    served: dict[str, str] = {}  # node -> agent
    taken_at = 0.0
    for part in parts:
        graph = (part.snapshot or {}).get("graph", {})
        node, error = graph.get("node", ""), part.error
        if part.snapshot is not None and node in served:
            error = f"node {node!r} is served by agent {served[node]} already"
        ok = part.snapshot is not None and not error
        agents.append(
            {"name": part.ref.name, "url": part.ref.url, "node": node, "ok": ok, "error": error}
        )
        if not ok or part.snapshot is None:
            continue
        served[node] = part.ref.name
        taken_at = max(taken_at, float(graph.get("taken_at", 0.0)))
        nodes.extend(part.snapshot.get("nodes", []))
        edges.extend(part.snapshot.get("edges", part.snapshot.get("links", [])))
    return {
        "directed": False,
        "multigraph": False,
        "graph": {"seq": seq, "taken_at": taken_at, "agents": agents},
        "nodes": nodes,
        "edges": edges,
        "lab_up": bool(served),
    }


@dataclass(frozen=True)
class PodEntry:
    name: str  # as the page lists it: the pod record's name, else the label
    netns: str  # qualified: node1/cnilab-web
    local: str  # as on its node: cnilab-web
    node: str
    ip: str  # its first IPv4 address (eth0's if it has one), "" if none


class DirectoryError(ValueError):
    pass


def _pod_ip(ns: str, interfaces: list[dict[str, Any]]) -> str:
    ifaces = sorted(
        (i for i in interfaces if i["ns"] == ns and i.get("kind") != "loopback"),
        key=lambda i: (i["name"] != "eth0", i.get("index", 0)),
    )
    for iface in ifaces:
        for cidr in iface.get("addresses", []):
            if ipaddress.ip_interface(cidr).version == 4:
                return cidr.split("/")[0]
    return ""


class Directory:
    """Pods and nodes by name, read from agents' snapshots (for the coordinator)."""

    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        self.pods: list[PodEntry] = []
        self.node_ips: dict[str, str] = {}
        for snap in snapshots:
            graph = snap.get("graph", {})
            self.node_ips[graph.get("node", "")] = graph.get("node_ip", "")
            interfaces = [n for n in snap.get("nodes", []) if n.get("type") == "interface"]
            for ns in snap.get("nodes", []):
                if ns.get("type") == "namespace" and ns.get("kind") == "pod":
                    name = (ns.get("pod") or {}).get("name") or ns.get("label") or ns["name"]
                    ip = _pod_ip(ns["name"], interfaces)
                    local = ns.get("netns", ns["name"])
                    self.pods.append(PodEntry(name, ns["name"], local, ns.get("node", ""), ip))

    def pod(self, name: str) -> PodEntry:
        found = [p for p in self.pods if name in (p.name, p.netns)]
        found = found or [p for p in self.pods if name == p.local]
        if not found:
            raise DirectoryError(f"no pod named {name!r} on any node")
        if len(found) > 1:
            where = ", ".join(p.netns for p in found)
            raise DirectoryError(f"{name!r} names a pod on several nodes: say which ({where})")
        return found[0]

    def resolve(self, dst: str) -> str:
        """A pod, a node, `internet`, or an IPv4 address (as lab.trace.tracer.resolve_dst)."""
        try:
            pod = self.pod(dst)
        except DirectoryError as e:
            if "several nodes" in str(e):
                raise
        else:
            if not pod.ip:
                raise DirectoryError(f"pod {dst!r} has no address")
            return pod.ip
        if dst in self.node_ips:
            if not self.node_ips[dst]:
                raise DirectoryError(f"node {dst!r} did not say its address (agent --node-ip)")
            return self.node_ips[dst]
        if dst == "internet":
            return str(INTERNET_ADDRESS.ip)
        try:
            return str(ipaddress.IPv4Address(dst))
        except ValueError:
            raise DirectoryError(
                f"{dst!r} is not a pod, a node, 'internet' or an IPv4 address"
            ) from None
