"""The snapshot as node-link lists (its JSON), and as a networkx graph on demand.

Nodes: namespaces, id "ns:<name>" (attrs: type "namespace", kind node|pod|underlay|
internet|host|other, label, node, pod, routes, neighbours, error) and interfaces, id
"if:<namespace>:<ifname>" (attrs: type "interface", ns, name, index, kind, mac, mtu,
operstate, up, addresses, master, peer, alias, network, and fdb on bridges).
Edges (an undirected `nx.Graph`): kind "member" (namespace - interface), "veth"
(one edge per pair; `underlay` marks the links between nodes, the underlay and the
"internet", not those of pods) and
"bridge-port" (attrs `bridge` and `port` give the direction), and the routes
(routes.py): "route" from a node's namespace to the interface of its next hop on
another node (cidr, cidrs, via, dev), "default-route" from a pod's namespace to the
interface holding its gateway (via, dev). Node namespaces also carry `masquerade`:
the nftables rules that masquerade there (family, table, chain, handle, comment).

`GraphBuilder` keeps each namespace's part (its nodes, member and bridge-port edges)
and rebuilds only those whose inputs changed: at 2 x 250 pods a change in one pod
costs one part, the veth pairing and the routes, not 500 parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx

from lab.inspect.dump import FdbEntry, Interface, NamespaceDump, Route
from lab.inspect.namespaces import NetnsKey, NetnsRef
from lab.inspect.owners import INTERNET, NODE, POD, UNDERLAY, Owner, PodRecord
from lab.inspect.peers import IfRef
from lab.inspect.routes import Place, route_edges


@dataclass(frozen=True)
class NamespaceView:
    ref: NetnsRef
    owner: Owner
    dump: NamespaceDump


def ns_id(name: str) -> str:
    return f"ns:{name}"


def if_id(ns: str, ifname: str) -> str:
    return f"if:{ns}:{ifname}"


@dataclass(frozen=True)
class SnapshotDiff:
    added: tuple[str, ...]  # node ids
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    added_edges: tuple[tuple[str, str, str], ...]  # (a, b, kind), a < b
    removed_edges: tuple[tuple[str, str, str], ...]

    def __bool__(self) -> bool:
        return any((self.added, self.removed, self.changed, self.added_edges, self.removed_edges))


Node = dict[str, Any]  # node-link: {"id": ..., **attrs}
Edge = dict[str, Any]  # node-link: {"source": ..., "target": ..., **attrs}


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading, as node-link lists. Treat everything in it as read-only:
    snapshots are shared, and a namespace that did not change shares its node dicts
    with the snapshot before (so a diff compares them by identity first)."""

    seq: int
    taken_at: float  # time.time()
    took: float  # seconds spent reading and building
    nodes: tuple[Node, ...] = field(repr=False)
    edges: tuple[Edge, ...] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directed": False,
            "multigraph": False,
            "graph": {"seq": self.seq, "taken_at": self.taken_at, "took": self.took},
            "nodes": list(self.nodes),
            "edges": list(self.edges),
        }

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:
        return json.dumps(self.to_dict())

    @cached_property
    def graph(self) -> nx.Graph:
        """The same as a networkx graph, built on first use."""
        g = nx.Graph()
        g.add_nodes_from((n["id"], _attrs(n)) for n in self.nodes)
        g.add_edges_from((e["source"], e["target"], _ends_cut(e)) for e in self.edges)
        return g

    @cached_property
    def _by_id(self) -> dict[str, Node]:
        return {n["id"]: n for n in self.nodes}

    def node(self, node_id: str) -> dict[str, Any] | None:
        """A node's attributes (with its "id"), or None."""
        return self._by_id.get(node_id)

    def namespaces(self, kind: str | None = None) -> list[str]:
        return [
            d["name"]
            for d in self.nodes
            if d["type"] == "namespace" and (kind is None or d["kind"] == kind)
        ]

    def interface(self, ns: str, ifname: str) -> dict[str, Any] | None:
        return self.node(if_id(ns, ifname))

    def same_content(self, other: Snapshot | None) -> bool:
        return other is not None and not self.diff(other)

    def diff(self, older: Snapshot) -> SnapshotDiff:
        new, old = self._by_id, older._by_id
        new_edges, old_edges = _edge_set(self.edges), _edge_set(older.edges)
        return SnapshotDiff(
            added=tuple(n for n in new if n not in old),
            removed=tuple(n for n in old if n not in new),
            changed=tuple(n for n in new if n in old and new[n] is not old[n] and new[n] != old[n]),
            added_edges=tuple(sorted(new_edges - old_edges)),
            removed_edges=tuple(sorted(old_edges - new_edges)),
        )


def _attrs(node: Node) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "id"}


def _edge_set(edges: tuple[Edge, ...]) -> set[tuple[str, str, str]]:
    return {(*sorted((e["source"], e["target"])), e["kind"]) for e in edges}  # type: ignore[misc]


class _Index:
    """Names of every namespace and interface, to turn (namespace, ifindex) into ids;
    each namespace's interface names are kept while its dump is the same."""

    def __init__(self, views: list[NamespaceView], before: _Index | None = None) -> None:
        self.names = {v.ref.key: v.ref.name for v in views}
        self.kinds = {v.ref.key: v.owner.kind for v in views}
        self.node_of = {v.ref.key: v.owner.node for v in views if v.owner.kind == NODE}
        known = before.ifnames if before else {}
        self.ifnames: dict[NetnsKey, tuple[NamespaceDump, dict[int, str]]] = {}
        for v in views:
            old = known.get(v.ref.key)
            self.ifnames[v.ref.key] = (
                old
                if old is not None and old[0] is v.dump
                else (v.dump, {i.index: i.name for i in v.dump.interfaces})
            )

    def ifname(self, ref: IfRef) -> str | None:
        found = self.ifnames.get(ref[0])
        return found[1].get(ref[1]) if found else None

    def iface(self, ref: IfRef) -> str | None:
        ifname = self.ifname(ref)
        return if_id(self.names[ref[0]], ifname) if ifname is not None else None


@dataclass(frozen=True)
class _Part:
    """What one namespace adds to the graph, and what it was made from."""

    inputs: tuple
    node: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


class GraphBuilder:
    """Builds the node-link lists of a snapshot, reusing each namespace's part (its
    nodes, member and bridge-port edges) while what it is made of (its dump, owner,
    node, veth peers) stays the same, and each veth edge while its ends do: after a
    change in one namespace, the others cost a comparison each.

    Edges of different kinds never join the same pair (member: a namespace and its own
    interface; bridge-port: two interfaces of one namespace; veth: a pair's ends;
    routes: a namespace and another's interface), so parts are only put together."""

    def __init__(self) -> None:
        self._parts: dict[str, _Part] = {}
        self._index: _Index | None = None
        self._veths: dict[tuple[IfRef, IfRef], tuple[tuple, Edge]] = {}

    def build(
        self, views: list[NamespaceView], peers: dict[IfRef, IfRef]
    ) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
        index = self._index = _Index(views, self._index)
        parts: dict[str, _Part] = {}
        nodes: list[Node] = []
        edges: list[Edge] = []
        for view in sorted(views, key=lambda v: v.ref.name):
            part = self._part(view, index, peers)
            parts[view.ref.name] = part
            nodes.extend(part.nodes)
            edges.extend(part.edges)
        self._parts = parts
        edges.extend(self._veth_edges(index, peers))
        places = [Place(v.ref.name, v.owner.kind, parts[v.ref.name].node, v.dump) for v in views]
        edges.extend(
            {**attrs, "source": a, "target": b} for a, b, attrs in route_edges(places, if_id, ns_id)
        )
        return tuple(nodes), tuple(edges)

    def _veth_edges(self, index: _Index, peers: dict[IfRef, IfRef]) -> list[Edge]:
        veths: dict[tuple[IfRef, IfRef], tuple[tuple, Edge]] = {}
        for end, peer in peers.items():
            if end > peer:  # each pair once
                continue
            inputs = (
                index.ifname(end),
                index.ifname(peer),
                index.kinds[end[0]],
                index.kinds[peer[0]],
            )
            if inputs[0] is None or inputs[1] is None:
                continue
            old = self._veths.get((end, peer))
            if old is not None and old[0] == inputs:
                veths[(end, peer)] = old
                continue
            a, b = sorted(
                (if_id(index.names[end[0]], inputs[0]), if_id(index.names[peer[0]], inputs[1]))
            )
            underlay = end[0] != peer[0] and {inputs[2], inputs[3]} <= {NODE, UNDERLAY, INTERNET}
            veths[(end, peer)] = (
                inputs,
                {"kind": "veth", "underlay": underlay, "source": a, "target": b},
            )
        self._veths = veths
        return [edge for _, edge in veths.values()]

    def _part(self, view: NamespaceView, index: _Index, peers: dict[IfRef, IfRef]) -> _Part:
        key = view.ref.key
        linked = tuple(
            (i.index, p, index.names.get(p[0]), index.ifname(p))
            for i in view.dump.interfaces
            if (p := peers.get((key, i.index))) is not None
        )
        node = view.owner.node
        if not node and view.owner.kind == POD:  # a pod without a record runs where its veth leads
            found = (peers.get((key, i.index)) for i in view.dump.interfaces)
            node = next((index.node_of[p[0]] for p in found if p and p[0] in index.node_of), "")
        inputs = (view.dump, view.owner, node, linked)
        old = self._parts.get(view.ref.name)
        if old is not None and old.inputs[0] is view.dump and old.inputs[1:] == inputs[1:]:
            return old
        peer_of = {i: if_id(ns, ifname) if ifname else None for i, _, ns, ifname in linked}
        nodes, edges = _namespace_part(view, node, peer_of)
        return _Part(inputs, node, nodes, edges)


def build_graph(views: list[NamespaceView], peers: dict[IfRef, IfRef]) -> nx.Graph:
    """The graph of these namespaces at once (what a Snapshot's `graph` holds)."""
    nodes, edges = GraphBuilder().build(views, peers)
    return Snapshot(0, 0.0, 0.0, nodes, edges).graph


def _ends_cut(edge: Edge) -> dict[str, Any]:
    return {k: v for k, v in edge.items() if k not in ("source", "target")}


def _namespace_part(
    view: NamespaceView, node: str, peer_of: dict[int, str | None]
) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
    name, owner, dump = view.ref.name, view.owner, view.dump
    dev = {i.index: i.name for i in dump.interfaces}
    nid = ns_id(name)
    ns: Node = {
        "type": "namespace",
        "kind": owner.kind,
        "name": name,
        "label": owner.label or name,
        "node": node,
        "pod": _pod(owner.pod) if owner.pod else None,
        "routes": [_route(r, dev) for r in dump.routes],
        "neighbours": [
            {"ip": n.ip, "mac": n.mac, "dev": dev.get(n.index, ""), "state": n.state}
            for n in dump.neighbours
        ],
        "error": dump.error,
    }
    if owner.kind == NODE:
        ns["masquerade"] = [
            {"family": m.family, "table": m.table, "chain": m.chain, "handle": m.handle}
            | {"comment": m.comment}
            for m in dump.masquerade
        ]
    ns["id"] = nid
    nodes: list[Node] = [ns]
    edges: list[Edge] = []
    addresses: dict[int, list[str]] = {}
    for a in dump.addresses:
        addresses.setdefault(a.index, []).append(a.cidr)
    networks = {a.ifname: a.network for a in owner.pod.attachments} if owner.pod else {}
    for iface in sorted(dump.interfaces, key=lambda i: i.index):
        iid = if_id(name, iface.name)
        attrs = _iface_attrs(iface, name)
        attrs.update(
            addresses=addresses.get(iface.index, []),
            master=if_id(name, dev[iface.master]) if iface.master in dev else None,
            peer=peer_of.get(iface.index),
            network=networks.get(iface.name, ""),
        )
        if iface.kind == "bridge":
            attrs["fdb"] = [_fdb(e, name, dev) for e in dump.fdb if e.bridge == iface.index]
        attrs["id"] = iid
        nodes.append(attrs)
        edges.append({"kind": "member", "source": nid, "target": iid})
    for iface in dump.interfaces:
        if iface.master in dev:
            port, bridge = if_id(name, iface.name), if_id(name, dev[iface.master])
            edges.append(
                {"kind": "bridge-port", "port": port, "bridge": bridge}
                | {"source": port, "target": bridge}
            )
    return tuple(nodes), tuple(edges)


def _iface_attrs(iface: Interface, ns: str) -> dict[str, Any]:
    return {
        "type": "interface",
        "ns": ns,
        "name": iface.name,
        "index": iface.index,
        "kind": iface.kind,
        "mac": iface.mac,
        "mtu": iface.mtu,
        "operstate": iface.operstate,
        "up": iface.up,
        "alias": iface.alias,
    }


def _pod(pod: PodRecord) -> dict[str, Any]:
    return {
        "name": pod.name,
        "node": pod.node,
        "container_id": pod.container_id,
        "netns": pod.netns,
        "attachments": [{"ifname": a.ifname, "network": a.network} for a in pod.attachments],
        "created": pod.created,
    }


def _fdb(e: FdbEntry, ns: str, dev: dict[int, str]) -> dict[str, Any]:
    port = if_id(ns, dev[e.port]) if e.port in dev else None
    return {"mac": e.mac, "port": port, "vlan": e.vlan, "local": e.local, "state": e.state}


def _route(r: Route, dev: dict[int, str]) -> dict[str, Any]:
    return {
        "dst": r.dst,
        "gateway": r.gateway,
        "dev": dev.get(r.oif, ""),
        "src": r.prefsrc,
        "protocol": r.protocol,
        "scope": r.scope,
        "type": r.type,
        "metric": r.metric,
        "nexthops": [{"gateway": gw, "dev": dev.get(oif, "")} for gw, oif in r.nexthops],
    }
