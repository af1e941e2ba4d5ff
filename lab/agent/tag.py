"""An inspector snapshot (node-link JSON) as one node agent publishes it.

The inspector names namespaces as it finds them and guesses their roles from names;
an agent knows better: its node's namespace is the node (kind "node", whatever its
name), every other one it serves is a pod of that node. Every namespace and interface
id gets the node's qualifier (scope.py), so that the app can take the union of
several agents' graphs as is. Pure: the input is not changed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lab.agent.scope import NodeScope
from lab.inspect.graph import if_id, ns_id
from lab.inspect.owners import NODE, POD


def _iface_ids(nodes: list[dict[str, Any]], scope: NodeScope) -> dict[str, str]:
    return {
        n["id"]: if_id(scope.qualify(n["ns"]), n["name"])
        for n in nodes
        if n.get("type") == "interface"
    }


def _namespace(n: dict[str, Any], scope: NodeScope) -> dict[str, Any]:
    local = n["name"]
    is_node = local == scope.node_netns
    return {
        **n,
        "id": ns_id(scope.qualify(local)),
        "name": scope.qualify(local),
        "netns": local,
        "kind": NODE if is_node else POD,
        "node": scope.node,
        "label": scope.node
        if is_node
        else (n.get("pod") or {}).get("name") or scope.pod_label(local),
    }


def _interface(n: dict[str, Any], scope: NodeScope, ids: dict[str, str]) -> dict[str, Any]:
    out = {**n, "id": ids[n["id"]], "ns": scope.qualify(n["ns"])}
    out["master"] = ids.get(n.get("master") or "")
    out["peer"] = ids.get(n.get("peer") or "")
    if "fdb" in n:
        out["fdb"] = [{**e, "port": ids.get(e.get("port") or "")} for e in n["fdb"]]
    return out


def _edge(e: dict[str, Any], scope: NodeScope, ids: dict[str, str]) -> dict[str, Any]:
    def qualified(node_id: str) -> str:
        if node_id in ids:
            return ids[node_id]
        return ns_id(scope.qualify(node_id.removeprefix("ns:")))

    out = {**e, "source": qualified(e["source"]), "target": qualified(e["target"])}
    for key in ("port", "bridge"):
        if key in e:
            out[key] = ids.get(e[key], e[key])
    if e.get("kind") == "veth":
        out["underlay"] = False  # one node and its pods: no link between nodes in here
    return out


def guess_node_ip(nodes: list[dict[str, Any]], node_ns: str) -> str:
    """The node's address on the network between nodes: on the interface of a route via
    a gateway to somewhere specific (another node's pods), else of the default route,
    else the first global address outside a bridge."""
    ns = next((n for n in nodes if n.get("type") == "namespace" and n["name"] == node_ns), None)
    if ns is None:
        return ""
    ifaces = {n["name"]: n for n in nodes if n.get("type") == "interface" and n["ns"] == node_ns}

    def address_on(dev: str) -> str:
        for cidr in (ifaces.get(dev) or {}).get("addresses", []):
            ip = ipaddress.ip_interface(cidr).ip
            if ip.version == 4 and not ip.is_loopback:
                return str(ip)
        return ""

    routes = ns.get("routes") or []
    for specific in (True, False):
        for r in routes:
            via = r.get("gateway") and (r.get("dst") != "default") == specific
            if via and (ip := address_on(r.get("dev", ""))):
                return ip
    for name, iface in sorted(ifaces.items(), key=lambda kv: kv[1].get("index", 0)):
        plain = iface.get("kind") not in ("bridge", "loopback") and not iface.get("master")
        if plain and (ip := address_on(name)):
            return ip
    return ""


def tag_snapshot(data: dict[str, Any], scope: NodeScope) -> dict[str, Any]:
    nodes = data.get("nodes", [])
    ids = _iface_ids(nodes, scope)
    tagged = [
        _namespace(n, scope) if n.get("type") == "namespace" else _interface(n, scope, ids)
        for n in nodes
    ]
    edges = [_edge(e, scope, ids) for e in data.get("edges", data.get("links", []))]
    node_ns = scope.qualify(scope.node_netns)
    graph = {
        **data.get("graph", {}),
        "node": scope.node,
        "netns": node_ns,
        "node_ip": scope.node_ip or guess_node_ip(tagged, node_ns),
    }
    return {**data, "graph": graph, "nodes": tagged, "edges": edges}
