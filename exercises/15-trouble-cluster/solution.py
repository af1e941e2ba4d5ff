"""Step 15, the reference: an instructor's troubleshooter for the cluster faults.

The answer is random, so the reference is not an answers file: `diagnose` compares
each node's routes with the cluster's nodes (a route via each peer to its pod CIDR,
as kindnet keeps them), then each node's nft rules (a masquerade must leave the pod
network alone; nothing may drop what is forwarded to pods); `fix` repairs exactly what
it found. An instructor reads a lab's answer with
`python -m lab.exercises.trouble_lab exercises/15-trouble-cluster/solution.py /run/cnilab diagnose`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

NAT = {"family": "ip", "table": "cnilab", "name": "postrouting"}


def answer(fault: str, node: str, obj: str = "") -> dict[str, str]:
    return {"fault": fault, "node": node, "object": obj}


def stale_routes(plan: Any, routes: dict[str, dict[str, Any]]) -> list[str]:
    """Routes into the pod network for a CIDR no node holds (a departed node's)."""
    network = ipaddress.ip_network(plan.pod_network)
    held = {n.pod_cidr for n in plan.nodes}
    return [
        dst
        for dst in routes
        if dst != "default" and ipaddress.ip_network(dst).subnet_of(network) and dst not in held
    ]


def route_fault(lab: Any, node: Any) -> dict[str, str] | None:
    routes = {r["dst"]: r for r in lab.ip(node.name, "route")}
    for peer in lab.plan.nodes:
        if peer is node:
            continue
        route = routes.get(peer.pod_cidr)
        if route is None:
            kind = "route-stale-cidr" if stale_routes(lab.plan, routes) else "route-missing"
            return answer(kind, node.name, peer.pod_cidr)
        if route.get("gateway") != peer.underlay_ip:
            return answer("route-wrong-gateway", node.name, peer.pod_cidr)
    return None


def spares_the_pod_network(expr: list[dict[str, Any]], network: str) -> bool:
    """Whether a rule matches `ip daddr != <pod network>` (kindnet's exception)."""
    net = ipaddress.ip_network(network)
    want = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    return any(
        e.get("match", {}).get("op") == "!="
        and e["match"].get("left", {}).get("payload", {}).get("field") == "daddr"
        and e["match"].get("right") == want
        for e in expr
    )


def firewall_fault(lab: Any, node: Any) -> dict[str, str] | None:
    items = lab.nft_ruleset(node.name)
    hooks = {(c["table"], c["name"]): c.get("hook") for i in items if (c := i.get("chain"))}
    for rule in (i["rule"] for i in items if "rule" in i):
        hook = hooks.get((rule["table"], rule["chain"]))
        kinds = {key for e in rule["expr"] for key in e}
        spared = spares_the_pod_network(rule["expr"], lab.plan.pod_network)
        if hook == "postrouting" and "masquerade" in kinds and not spared:
            return answer("masquerade-pods", node.name)
        if hook == "forward" and "drop" in kinds:
            return answer("forward-drop", node.name)
    return None


def diagnose(lab: Any) -> dict[str, str]:
    for node in lab.plan.nodes:
        found = route_fault(lab, node) or firewall_fault(lab, node)
        if found is not None:
            return found
    return answer("", "")


def masquerade_rule(pod_network: str) -> dict[str, Any]:
    net = ipaddress.ip_network(pod_network)
    pods = {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}
    return {
        "family": "ip",
        "table": NAT["table"],
        "chain": NAT["name"],
        "comment": "pods leaving the pod network",
        "expr": [
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": pods,
                }
            },
            {
                "match": {
                    "op": "!=",
                    "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                    "right": pods,
                }
            },
            {"masquerade": None},
        ],
    }


def fix_route(lab: Any, node: str, cidr: str) -> None:
    peer = next(n for n in lab.plan.nodes if n.pod_cidr == cidr)
    routes = {r["dst"]: r for r in lab.ip(node, "route")}
    with lab.iproute(node) as ipr:
        for stale in stale_routes(lab.plan, routes):
            net = ipaddress.ip_network(stale)
            ipr.route("del", dst=str(net.network_address), dst_len=net.prefixlen)
        net = ipaddress.ip_network(cidr)
        ipr.route(
            "replace", dst=str(net.network_address), dst_len=net.prefixlen, gateway=peer.underlay_ip
        )


def fix_firewall(lab: Any, node: str) -> None:
    items = lab.nft_ruleset(node)
    hooks = {(c["table"], c["name"]): c.get("hook") for i in items if (c := i.get("chain"))}
    for rule in (i["rule"] for i in items if "rule" in i):
        kinds = {key for e in rule["expr"] for key in e}
        if hooks.get((rule["table"], rule["chain"])) == "forward" and "drop" in kinds:
            where = {k: rule[k] for k in ("family", "table", "chain", "handle")}
            lab.nft(node, [{"delete": {"rule": where}}])


def fix(lab: Any) -> None:
    found = diagnose(lab)
    fault, node, obj = found["fault"], found["node"], found["object"]
    if fault.startswith("route-"):
        fix_route(lab, node, obj)
    elif fault == "masquerade-pods":
        lab.nft(
            node,
            [{"flush": {"chain": NAT}}, {"add": {"rule": masquerade_rule(lab.plan.pod_network)}}],
        )
    elif fault == "forward-drop":
        fix_firewall(lab, node)
