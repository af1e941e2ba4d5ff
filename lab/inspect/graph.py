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

`GraphBuilder` keeps each namespace's part (its nodes, member and bridge-port edges),
its veth and route edges, and looks again only at the namespaces whose inputs
changed: at 2 x 250 pods a change in one namespace costs its part and its route
edges, not 504 of each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Any

import networkx as nx

from lab.inspect.dump import FdbEntry, Interface, NamespaceDump, Route
from lab.inspect.namespaces import NetnsKey, NetnsRef
from lab.inspect.owners import INTERNET, NODE, POD, UNDERLAY, Owner, PodRecord
from lab.inspect.peers import IfRef
from lab.inspect.routes import Place, RouteEdges


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
    kept up to date one namespace at a time."""

    def __init__(self) -> None:
        self.names: dict[NetnsKey, str] = {}
        self.kinds: dict[NetnsKey, str] = {}
        self.node_of: dict[NetnsKey, str] = {}
        self.ifnames: dict[NetnsKey, dict[int, str]] = {}

    def update(self, key: NetnsKey, view: NamespaceView | None) -> None:
        if view is None:
            for table in (self.names, self.kinds, self.node_of, self.ifnames):
                table.pop(key, None)  # type: ignore[attr-defined]
            return
        self.names[key] = view.ref.name
        self.kinds[key] = view.owner.kind
        if view.owner.kind == NODE:
            self.node_of[key] = view.owner.node
        else:
            self.node_of.pop(key, None)
        self.ifnames[key] = {i.index: i.name for i in view.dump.interfaces}

    def ifname(self, ref: IfRef) -> str | None:
        found = self.ifnames.get(ref[0])
        return found.get(ref[1]) if found else None


_Made = dict[Any, tuple[tuple, Node, tuple[Edge, ...]]]  # per interface: inputs, dicts


@dataclass(frozen=True)
class _Part:
    """What one namespace adds to the graph, and what it was made from."""

    inputs: tuple
    node: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    place: Place
    made: _Made


class GraphBuilder:
    """Builds the node-link lists of a snapshot, and keeps what it made for the next.

    Only the namespaces whose view changed (dump, owner, name: views are compared by
    identity, so an unchanged namespace must be given the same view object), whose
    veth peers changed, or whose peers lie in a changed namespace are looked at
    again; each keeps its part (its nodes, member and bridge-port edges) while what
    it is made of (its dump, owner, node, veth peers) stays the same, each veth edge
    while its ends do, and routes.RouteEdges its route edges. At 2 x 250 pods a new
    veth in a node costs that node's part, not 504.

    Edges of different kinds never join the same pair (member: a namespace and its own
    interface; bridge-port: two interfaces of one namespace; veth: a pair's ends;
    routes: a namespace and another's interface), so parts are only put together."""

    def __init__(self) -> None:
        self._views: dict[NetnsKey, NamespaceView] = {}
        self._peers: dict[IfRef, IfRef] = {}
        self._index = _Index()
        self._parts: dict[NetnsKey, _Part] = {}
        self._order: list[NetnsKey] = []  # by namespace name
        self._veths: dict[tuple[IfRef, IfRef], tuple[tuple, Edge]] = {}
        self._routes = RouteEdges(if_id, ns_id)

    def build(
        self, views: list[NamespaceView], peers: dict[IfRef, IfRef]
    ) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
        new = {v.ref.key: v for v in views}
        changed = {k for k, v in new.items() if self._views.get(k) is not v}
        changed |= self._views.keys() - new.keys()
        touched, renamed = self._touched(changed, new, peers)
        dirty = changed | touched
        for key in changed:
            self._index.update(key, new.get(key))
        for key in dirty:
            if key in new:
                self._parts[key] = self._part(new[key], peers)
            else:
                self._parts.pop(key, None)
        if changed & (new.keys() ^ self._views.keys()) or any(
            self._views[k].ref.name != new[k].ref.name
            for k in changed
            if k in new and k in self._views
        ):
            self._order = sorted(new, key=lambda k: new[k].ref.name)
        self._views, self._peers = new, peers
        parts = [self._parts[k] for k in self._order]
        nodes = tuple(chain.from_iterable(part.nodes for part in parts))
        edges = chain.from_iterable(part.edges for part in parts)
        veths = self._veth_edges(peers, renamed)
        routes = self._routes.update([self._parts[v.ref.key].place for v in views])
        return nodes, tuple(chain(edges, veths, routes))

    def _touched(
        self, changed: set[NetnsKey], new: dict[NetnsKey, NamespaceView], peers: dict[IfRef, IfRef]
    ) -> tuple[set[NetnsKey], set[IfRef | NetnsKey]]:
        """(namespaces whose veth peers changed, or whose peers' names did, and the
        ends whose names changed: an (namespace, ifindex), or a whole namespace when
        its own name or owner did)."""
        old = self._peers
        touched: set[NetnsKey] = set()
        renamed: set[IfRef | NetnsKey] = set()
        if peers is not old:
            touched |= {e[0] for e, p in peers.items() if old.get(e) != p}
            touched |= {e[0] for e in old if e not in peers}
        for key in changed:
            before, after = self._views.get(key), new.get(key)
            names = self._index.ifnames.get(key, {})
            if (
                before is None
                or after is None
                or (before.ref, before.owner) != (after.ref, after.owner)
            ):
                indexes = {i.index for v in (before, after) if v for i in v.dump.interfaces}
                renamed.add(key)
            else:
                now = {i.index: i.name for i in after.dump.interfaces}
                indexes = {i for i in names.keys() | now.keys() if names.get(i) != now.get(i)}
            for i in indexes:
                renamed.add((key, i))
                for found in (old.get((key, i)), peers.get((key, i))):
                    if found is not None:
                        touched.add(found[0])
        return touched, renamed

    def _veth_edges(self, peers: dict[IfRef, IfRef], renamed: set[IfRef | NetnsKey]) -> list[Edge]:
        """One edge per pair, the same dict while both ends keep their names."""
        index = self._index
        veths: dict[tuple[IfRef, IfRef], tuple[tuple, Edge]] = {}
        for end, peer in peers.items():
            if end > peer:  # each pair once
                continue
            old = self._veths.get((end, peer))
            if old is not None and not renamed.intersection((end, peer, end[0], peer[0])):
                veths[(end, peer)] = old
                continue
            inputs = (
                index.ifname(end),
                index.ifname(peer),
                index.kinds[end[0]],
                index.kinds[peer[0]],
            )
            if inputs[0] is None or inputs[1] is None:
                continue
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

    def _part(self, view: NamespaceView, peers: dict[IfRef, IfRef]) -> _Part:
        index, key = self._index, view.ref.key
        linked = tuple(
            (i.index, p, index.names.get(p[0]), index.ifname(p))
            for i in view.dump.interfaces
            if (p := peers.get((key, i.index))) is not None
        )
        node = view.owner.node
        if not node and view.owner.kind == POD:  # a pod without a record runs where its veth leads
            found = (peers.get((key, i.index)) for i in view.dump.interfaces)
            node = next((index.node_of[p[0]] for p in found if p and p[0] in index.node_of), "")
        inputs = (view.dump, view.ref.name, view.owner, node, linked)
        old = self._parts.get(key)
        if old is not None and old.inputs[0] is view.dump and old.inputs[1:] == inputs[1:]:
            return old
        peer_of = {i: if_id(ns, ifname) if ifname else None for i, _, ns, ifname in linked}
        nodes, edges, made = _namespace_part(view, node, peer_of, old.made if old else {})
        place = Place(view.ref.name, view.owner.kind, node, view.dump)
        if old is not None and old.place == place:
            place = old.place  # the route edges look at places by identity
        return _Part(inputs, node, nodes, edges, place, made)


def build_graph(views: list[NamespaceView], peers: dict[IfRef, IfRef]) -> nx.Graph:
    """The graph of these namespaces at once (what a Snapshot's `graph` holds)."""
    nodes, edges = GraphBuilder().build(views, peers)
    return Snapshot(0, 0.0, 0.0, nodes, edges).graph


def _ends_cut(edge: Edge) -> dict[str, Any]:
    return {k: v for k, v in edge.items() if k not in ("source", "target")}


def _namespace_part(
    view: NamespaceView, node: str, peer_of: dict[int, str | None], made: _Made
) -> tuple[tuple[Node, ...], tuple[Edge, ...], _Made]:
    """The namespace's nodes and edges; the dicts of `made` (the part before) are
    kept where what they are made of is the same (so that a delta sets them aside by
    identity: a new veth in a node leaves its other 250 interfaces' dicts alone)."""
    name, owner, dump = view.ref.name, view.owner, view.dump
    dev = {i.index: i.name for i in dump.interfaces}
    nid = ns_id(name)
    now: _Made = {}
    inputs: tuple = (name, owner, node, dump.routes, dump.neighbours, dump.masquerade, dump.error)
    inputs += (_devices_named(dump, dev),)
    now[None] = (
        made[None]
        if None in made and made[None][0] == inputs
        else (inputs, _namespace_node(view, node, dev), ())
    )
    addresses: dict[int, tuple[str, ...]] = {}
    for a in dump.addresses:
        addresses[a.index] = (*addresses.get(a.index, ()), a.cidr)
    networks = {a.ifname: a.network for a in owner.pod.attachments} if owner.pod else {}
    fdbs: dict[int, list[tuple[FdbEntry, str | None]]] = {}
    for e in dump.fdb:
        fdbs.setdefault(e.bridge, []).append((e, dev.get(e.port)))
    for iface in sorted(dump.interfaces, key=lambda i: i.index):
        fdb = tuple(fdbs.get(iface.index, ()))
        inputs = (
            name,
            iface,
            addresses.get(iface.index, ()),
            dev.get(iface.master),
            peer_of.get(iface.index),
            networks.get(iface.name, ""),
            fdb if iface.kind == "bridge" else None,
        )
        old = made.get(iface.index)
        if old is not None and old[0] == inputs:
            now[iface.index] = old
            continue
        iid = if_id(name, iface.name)
        attrs = _iface_attrs(iface, name)
        attrs.update(
            addresses=list(inputs[2]),
            master=if_id(name, dev[iface.master]) if iface.master in dev else None,
            peer=inputs[4],
            network=inputs[5],
        )
        if iface.kind == "bridge":
            attrs["fdb"] = [_fdb(e, name, dev) for e, _ in fdb]
        attrs["id"] = iid
        edges: tuple[Edge, ...] = ({"kind": "member", "source": nid, "target": iid},)
        if iface.master in dev:
            port, bridge = iid, if_id(name, dev[iface.master])
            edges += (
                {"kind": "bridge-port", "port": port, "bridge": bridge}
                | {"source": port, "target": bridge},
            )
        now[iface.index] = (inputs, attrs, edges)
    nodes = tuple(n for _, n, _ in now.values())
    member = tuple(e[0] for _, _, e in list(now.values())[1:])
    ports = tuple(now[i.index][2][1] for i in dump.interfaces if i.master in dev)
    return nodes, member + ports, now


def _devices_named(dump: NamespaceDump, dev: dict[int, str]) -> tuple[str | None, ...]:
    """The names the namespace's node shows: its routes' and neighbours' devices."""
    indexes = [r.oif for r in dump.routes] + [oif for r in dump.routes for _, oif in r.nexthops]
    return tuple(dev.get(i) for i in indexes + [n.index for n in dump.neighbours])


def _namespace_node(view: NamespaceView, node: str, dev: dict[int, str]) -> Node:
    name, owner, dump = view.ref.name, view.owner, view.dump
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
    ns["id"] = ns_id(name)
    return ns


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
