"""The snapshot as a networkx graph, and its node-link JSON.

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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx

from lab.inspect.dump import FdbEntry, Interface, NamespaceDump, Route
from lab.inspect.namespaces import NetnsRef
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


@dataclass(frozen=True)
class Snapshot:
    """One consistent reading. Treat `graph` as read-only: snapshots are shared."""

    seq: int
    taken_at: float  # time.time()
    took: float  # seconds spent reading and building
    graph: nx.Graph = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = nx.node_link_data(self.graph, edges="edges")
        data["graph"] = {"seq": self.seq, "taken_at": self.taken_at, "took": self.took}
        return data

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:
        return json.dumps(self.to_dict())

    def namespaces(self, kind: str | None = None) -> list[str]:
        return [
            d["name"]
            for _, d in self.graph.nodes(data=True)
            if d["type"] == "namespace" and (kind is None or d["kind"] == kind)
        ]

    def interface(self, ns: str, ifname: str) -> dict[str, Any] | None:
        return self.graph.nodes.get(if_id(ns, ifname))

    def same_content(self, other: Snapshot | None) -> bool:
        return other is not None and not self.diff(other)

    def diff(self, older: Snapshot) -> SnapshotDiff:
        new, old = self.graph, older.graph
        changed = tuple(n for n in new if n in old and new.nodes[n] != old.nodes[n])
        new_edges, old_edges = _edge_set(new), _edge_set(old)
        return SnapshotDiff(
            added=tuple(n for n in new if n not in old),
            removed=tuple(n for n in old if n not in new),
            changed=changed,
            added_edges=tuple(sorted(new_edges - old_edges)),
            removed_edges=tuple(sorted(old_edges - new_edges)),
        )


def _edge_set(g: nx.Graph) -> set[tuple[str, str, str]]:
    return {(*sorted((a, b)), d["kind"]) for a, b, d in g.edges(data=True)}  # type: ignore[misc]


class _Index:
    """Names of every namespace and interface, to turn (namespace, ifindex) into ids."""

    def __init__(self, views: list[NamespaceView]) -> None:
        self.names = {v.ref.key: v.ref.name for v in views}
        self.kinds = {v.ref.key: v.owner.kind for v in views}
        self.node_of = {v.ref.key: v.owner.node for v in views if v.owner.kind == NODE}
        self.ifnames = {(v.ref.key, i.index): i.name for v in views for i in v.dump.interfaces}

    def iface(self, ref: IfRef) -> str | None:
        ifname = self.ifnames.get(ref)
        return if_id(self.names[ref[0]], ifname) if ifname is not None else None


def build_graph(views: list[NamespaceView], peers: dict[IfRef, IfRef]) -> nx.Graph:
    g = nx.Graph()
    index = _Index(views)
    for view in sorted(views, key=lambda v: v.ref.name):
        _add_namespace(g, view, index, peers)
    for end, peer in peers.items():
        a, b = index.iface(end), index.iface(peer)
        if a and b and a < b:
            kinds = {index.kinds[end[0]], index.kinds[peer[0]]}
            underlay = end[0] != peer[0] and kinds <= {NODE, UNDERLAY, INTERNET}
            g.add_edge(a, b, kind="veth", underlay=underlay)
    places = [
        Place(v.ref.name, v.owner.kind, g.nodes[ns_id(v.ref.name)]["node"], v.dump) for v in views
    ]
    for a, b, attrs in route_edges(places, if_id, ns_id):
        g.add_edge(a, b, **attrs)
    return g


def _add_namespace(
    g: nx.Graph, view: NamespaceView, index: _Index, peers: dict[IfRef, IfRef]
) -> None:
    key, name, owner, dump = view.ref.key, view.ref.name, view.owner, view.dump
    dev = {i.index: i.name for i in dump.interfaces}
    nid = ns_id(name)
    node = owner.node
    if not node and owner.kind == POD:  # a pod without a record runs where its veth leads
        found = (peers.get((key, i.index)) for i in dump.interfaces)
        node = next((index.node_of[p[0]] for p in found if p and p[0] in index.node_of), "")
    g.add_node(
        nid,
        type="namespace",
        kind=owner.kind,
        name=name,
        label=owner.label or name,
        node=node,
        pod=_pod(owner.pod) if owner.pod else None,
        routes=[_route(r, dev) for r in dump.routes],
        neighbours=[
            {"ip": n.ip, "mac": n.mac, "dev": dev.get(n.index, ""), "state": n.state}
            for n in dump.neighbours
        ],
        error=dump.error,
    )
    if owner.kind == NODE:
        g.nodes[nid]["masquerade"] = [
            {"family": m.family, "table": m.table, "chain": m.chain, "handle": m.handle}
            | {"comment": m.comment}
            for m in dump.masquerade
        ]
    addresses: dict[int, list[str]] = {}
    for a in dump.addresses:
        addresses.setdefault(a.index, []).append(a.cidr)
    networks = {a.ifname: a.network for a in owner.pod.attachments} if owner.pod else {}
    for iface in sorted(dump.interfaces, key=lambda i: i.index):
        iid = if_id(name, iface.name)
        peer = peers.get((key, iface.index))
        attrs = _iface_attrs(iface, name)
        attrs.update(
            addresses=addresses.get(iface.index, []),
            master=if_id(name, dev[iface.master]) if iface.master in dev else None,
            peer=index.iface(peer) if peer else None,
            network=networks.get(iface.name, ""),
        )
        if iface.kind == "bridge":
            attrs["fdb"] = [_fdb(e, name, dev) for e in dump.fdb if e.bridge == iface.index]
        g.add_node(iid, **attrs)
        g.add_edge(nid, iid, kind="member")
    for iface in dump.interfaces:
        if iface.master in dev:
            port, bridge = if_id(name, iface.name), if_id(name, dev[iface.master])
            g.add_edge(port, bridge, kind="bridge-port", port=port, bridge=bridge)


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
