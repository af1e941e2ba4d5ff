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

from collections.abc import Iterable
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


def _holders(places: Iterable[Place]) -> dict[str, list[Holder]]:
    """Each IPv4 address -> the interfaces that hold it."""
    out: dict[str, list[Holder]] = {}
    for p in places:
        names = {i.index: i.name for i in p.dump.interfaces}
        for a in p.dump.addresses:
            if a.index in names:
                ip = a.cidr.split("/", 1)[0]
                out.setdefault(ip, []).append(Holder(p.name, names[a.index], p.kind, p.node))
    return out


def _hops(route: Route, dev: dict[int, str]) -> list[tuple[str, str]]:
    """(gateway, device) of each next hop that has a gateway."""
    if route.gateway:
        return [(route.gateway, dev.get(route.oif, ""))]
    return [(gw, dev.get(oif, "")) for gw, oif in route.nexthops if gw]


def _only(found: list[Holder]) -> Holder | None:
    return found[0] if len(found) == 1 else None


def route_edges(places: list[Place], if_id: Any, ns_id: Any) -> list[tuple[str, str, dict]]:
    """(source, target, attrs) of every route edge; `if_id`/`ns_id` name the ends."""
    holders = _holders(places)
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for p in places:
        dev = {i.index: i.name for i in p.dump.interfaces}
        for route in p.dump.routes:
            for via, out in _hops(route, dev):
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
    return [(a, b, attrs) for (a, b), attrs in edges.items()]
