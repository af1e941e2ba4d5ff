"""Routes as edges of the graph: what makes cross-node traffic work, drawn.

A route is an edge from the namespace that holds it to the interface that holds its
next hop: node1's `10.244.1.0/24 via 192.168.56.12 dev eth1` joins `ns:<node1>` to
`if:<node2>:eth1`. (The graph keeps one edge per pair; from a namespace to an
interface, node1's route to node2 and node2's route to node1 are two pairs.)

- kind "route": a node's routes (not its default) whose next hop is another node;
  attrs `cidr` (the first, in order), `cidrs` (every destination through that next
  hop), `via`, `dev`, `node` and `to_node`.
- kind "default-route": a pod's default route to the interface holding its gateway
  (a node's bridge on the pod's node, when more than one namespace holds the
  address); attrs `via`, `dev`.

A next hop nobody holds (a typo, a gateway never assigned) makes no edge: the route
stays in its namespace's `routes`, where the details show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.inspect.dump import NamespaceDump, Route
from lab.inspect.owners import NODE, POD


@dataclass(frozen=True)
class Place:
    """One namespace as route resolution sees it."""

    name: str
    kind: str
    node: str
    dump: NamespaceDump


@dataclass(frozen=True)
class Holder:
    ns: str
    ifname: str
    kind: str
    node: str


def _held(p: Place) -> tuple[tuple[str, Holder], ...]:
    """(IPv4 address, holder) of each address the place's interfaces hold."""
    names = {i.index: i.name for i in p.dump.interfaces}
    return tuple(
        (a.cidr.split("/", 1)[0], Holder(p.name, names[a.index], p.kind, p.node))
        for a in p.dump.addresses
        if a.index in names
    )


def _hops(route: Route, dev: dict[int, str]) -> list[tuple[str, str]]:
    """(gateway, device) of each next hop that has a gateway."""
    if route.gateway:
        return [(route.gateway, dev.get(route.oif, ""))]
    return [(gw, dev.get(oif, "")) for gw, oif in route.nexthops if gw]


def _only(found: list[Holder]) -> Holder | None:
    return found[0] if len(found) == 1 else None


def _place_edges(
    p: Place, holders: dict[str, list[Holder]], if_id: Any, ns_id: Any
) -> tuple[list[tuple[str, str, dict]], set[str]]:
    """The route edges from one place, and the next hops they looked up."""
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    vias: set[str] = set()
    dev = {i.index: i.name for i in p.dump.interfaces}
    for route in p.dump.routes:
        for via, out in _hops(route, dev):
            vias.add(via)
            found = [h for h in holders.get(via, ()) if h.ns != p.name]
            if p.kind == NODE and route.dst != "default":
                target = _only([h for h in found if h.kind == NODE])
                if target is None:
                    continue
                key = (ns_id(p.name), if_id(target.ns, target.ifname))
                edge = edges.setdefault(
                    key,
                    {
                        "kind": "route",
                        "cidrs": [],
                        "via": via,
                        "dev": out,
                        "node": p.node,
                        "to_node": target.node,
                    },
                )
                edge["cidrs"].append(route.dst)
                edge["cidr"] = edge["cidrs"][0]
            elif p.kind == POD and route.dst == "default":
                same_node = [h for h in found if h.kind == NODE and h.node == p.node]
                target = _only(same_node) or _only(found)
                if target is not None:
                    key = (ns_id(p.name), if_id(target.ns, target.ifname))
                    edges.setdefault(key, {"kind": "default-route", "via": via, "dev": out})
    return [(a, b, attrs) for (a, b), attrs in edges.items()], vias


def route_edges(places: list[Place], if_id: Any, ns_id: Any) -> list[tuple[str, str, dict]]:
    """(source, target, attrs) of every route edge; `if_id`/`ns_id` name the ends."""
    holders: dict[str, list[Holder]] = {}
    for p in places:
        for ip, holder in _held(p):
            holders.setdefault(ip, []).append(holder)
    return [e for p in places for e in _place_edges(p, holders, if_id, ns_id)[0]]


def _same(before: dict[tuple[str, str], dict[str, Any]], edge: dict[str, Any]) -> dict[str, Any]:
    """The edge made before, if it is equal (a delta then sets it aside by identity)."""
    old = before.get((edge["source"], edge["target"]))
    return old if old == edge else edge


class RouteEdges:
    """`route_edges` kept from one snapshot to the next, as node-link edge dicts.

    A place's edges depend on its own routes and interface names, and on who holds
    the next hops they name: only the places that changed, and those whose next
    hops' holders changed, are looked at again (a new pod adds a holder of its own
    address, which no other place routes through). Unchanged edges keep their dicts,
    so that a delta sets them aside by identity."""

    def __init__(self, if_id: Any, ns_id: Any) -> None:
        self._names = (if_id, ns_id)
        self._places: dict[str, Place] = {}
        self._held: dict[str, tuple[tuple[str, Holder], ...]] = {}
        self._holders: dict[str, list[Holder]] = {}
        self._vias: dict[str, set[str]] = {}
        self._routed_via: dict[str, set[str]] = {}  # next hop -> places that look it up
        self._edges: dict[str, list[dict[str, Any]]] = {}

    def update(self, places: list[Place]) -> list[dict[str, Any]]:
        new = {p.name: p for p in places}
        dirty: set[str] = set()
        moved: set[str] = set()  # addresses whose holders changed
        for name in [n for n in self._places if n not in new]:
            moved |= self._hold(name, ())
            self._route(name, set())
            del self._places[name], self._edges[name]
        for name, p in new.items():
            old = self._places.get(name)
            if old is p:
                continue
            self._places[name] = p
            if old is not None and (old.dump, old.kind, old.node) == (p.dump, p.kind, p.node):
                continue
            dirty.add(name)
            moved |= self._hold(name, _held(p))
        for ip in moved:
            dirty |= self._routed_via.get(ip, set())
        if_id, ns_id = self._names
        for name in dirty:
            edges, vias = _place_edges(new[name], self._holders, if_id, ns_id)
            before = {(e["source"], e["target"]): e for e in self._edges.get(name, ())}
            made = ({**attrs, "source": a, "target": b} for a, b, attrs in edges)
            self._edges[name] = [_same(before, e) for e in made]
            self._route(name, vias)
        return [e for p in places for e in self._edges[p.name]]

    def _hold(self, name: str, held: tuple[tuple[str, Holder], ...]) -> set[str]:
        """Make `held` the place's addresses; those whose holders changed."""
        old = self._held.pop(name, ())
        if held:
            self._held[name] = held
        if old == held:
            return set()
        for ip, holder in old:
            self._holders[ip].remove(holder)
            if not self._holders[ip]:
                del self._holders[ip]
        for ip, holder in held:
            self._holders.setdefault(ip, []).append(holder)
        return {ip for ip, _ in old} | {ip for ip, _ in held}

    def _route(self, name: str, vias: set[str]) -> None:
        """Make `vias` the next hops the place looks up."""
        for ip in self._vias.pop(name, set()) - vias:
            self._routed_via[ip].discard(name)
            if not self._routed_via[ip]:
                del self._routed_via[ip]
        for ip in vias:
            self._routed_via.setdefault(ip, set()).add(name)
        if vias:
            self._vias[name] = vias
