"""The fault catalogue of the troubleshooting steps: what can break, where, and how.

Each fault lists its targets in the lab as it stands (`targets`), and breaks one of
them (`inject`) the way a real cluster breaks: a host end set down, a route deleted,
a masquerade rule rewritten. A target's `answer` (fault, node, object) is what the
student must name; its `detail` (an MTU, a wrong next hop) is how the fault was made
and is never asked for. Kernel changes go through pyroute2, sysctls and nft's JSON.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.cluster.node_setup import NAT_CHAIN, NAT_TABLE
from lab.cluster.plan import Node, Plan
from lab.exercises.health import ScenePod, host_end
from lab.kernel.netns import iproute_in, run_in_netns
from lab.kernel.nftables import match, prefix, run_nft
from lab.kernel.sysctl import write_sysctl

FIREWALL_TABLE = "filter"  # the name iptables-nft gives its table: nothing gives it away
FIREWALL_CHAIN = "forward"
MTUS = (1280, 1400, 9000)
STALE_SUBNETS = range(40, 100)  # /24s of the pod network no node of the lab holds


@dataclass(frozen=True)
class Target:
    fault: str
    node: str
    object: str = ""
    detail: tuple[Any, ...] = ()

    @property
    def answer(self) -> tuple[str, str, str]:
        return (self.fault, self.node, self.object)


@dataclass(frozen=True)
class Fault:
    key: str
    step: str  # the slug of the step it belongs to
    what: str  # one line for instructors and tests
    targets: Callable[[Plan, list[ScenePod], random.Random], list[Target]]
    inject: Callable[[Plan, list[ScenePod], Target], None]


# -- helpers ----------------------------------------------------------------------------
def _pod(pods: list[ScenePod], name: str) -> ScenePod:
    return next(p for p in pods if p.name == name)


def _host_end_name(plan: Plan, pod: ScenePod) -> str:
    end = host_end(pod, plan.node(pod.node))
    if end is None:
        raise RuntimeError(f"pod {pod.name} has no host end on {pod.node}")
    return str(end["ifname"])


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def _route(ipr: Any, command: str, cidr: str, gateway: str | None = None) -> None:
    net = _net(cidr)
    kw: dict[str, Any] = {"dst": str(net.network_address), "dst_len": net.prefixlen}
    if gateway:
        kw["gateway"] = gateway
    ipr.route(command, **kw)


def _peers(plan: Plan, node: Node) -> list[Node]:
    return [n for n in plan.nodes if n is not node]


# -- step 10: the wiring of pods and nodes -------------------------------------------------
def _per_host_end(fault: str) -> Callable[[Plan, list[ScenePod], random.Random], list[Target]]:
    def targets(plan: Plan, pods: list[ScenePod], rng: random.Random) -> list[Target]:
        return [Target(fault, p.node, _host_end_name(plan, p), (p.name,)) for p in pods]

    return targets


def _set_host_end(**change: Any) -> Callable[[Plan, list[ScenePod], Target], None]:
    def inject(plan: Plan, pods: list[ScenePod], t: Target) -> None:
        with iproute_in(plan.node(t.node).netns_path) as (ipr, _):
            ipr.link("set", index=ipr.link_lookup(ifname=t.object)[0], **change)

    return inject


def _pod_targets(fault: str, detail: Callable[[random.Random], tuple[Any, ...]] = lambda r: ()):
    def targets(plan: Plan, pods: list[ScenePod], rng: random.Random) -> list[Target]:
        return [Target(fault, p.node, p.name, detail(rng)) for p in pods]

    return targets


def _drop_default_route(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    with iproute_in(_pod(pods, t.object).netns_path) as (ipr, _):
        _route(ipr, "del", "0.0.0.0/0", plan.node(t.node).gateway)


def _set_pod_mtu(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    with iproute_in(_pod(pods, t.object).netns_path) as (ipr, _):
        ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], mtu=t.detail[0])


def _node_targets(fault: str) -> Callable[[Plan, list[ScenePod], random.Random], list[Target]]:
    def targets(plan: Plan, pods: list[ScenePod], rng: random.Random) -> list[Target]:
        return [Target(fault, n.name) for n in plan.nodes]

    return targets


def _forwarding_off(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    run_in_netns(plan.node(t.node).netns_path, lambda: write_sysctl("net.ipv4.ip_forward", "0"))


# -- step 15: the cluster: routes between nodes, masquerade, firewall -------------------------
def _route_targets(fault: str, detail: Callable[[Plan, random.Random], tuple[Any, ...]]):
    def targets(plan: Plan, pods: list[ScenePod], rng: random.Random) -> list[Target]:
        return [
            Target(fault, n.name, peer.pod_cidr, (peer.name, *detail(plan, rng)))
            for n in plan.nodes
            for peer in _peers(plan, n)
        ]

    return targets


def _wrong_next_hop(plan: Plan, rng: random.Random) -> tuple[str]:
    taken = {n.underlay_ip for n in plan.nodes} | {str(ipaddress.ip_network(plan.underlay)[1])}
    free = [
        str(a)
        for a in list(ipaddress.ip_network(plan.underlay).hosts())[99:]
        if str(a) not in taken
    ]
    return (rng.choice(free),)


def _stale_cidr(plan: Plan, rng: random.Random) -> tuple[str]:
    subnets = list(_net(plan.pod_network).subnets(new_prefix=24))
    held = {n.pod_cidr for n in plan.nodes}
    return (rng.choice([str(subnets[i]) for i in STALE_SUBNETS if str(subnets[i]) not in held]),)


def _delete_peer_route(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    with iproute_in(plan.node(t.node).netns_path) as (ipr, _):
        _route(ipr, "del", t.object, plan.node(t.detail[0]).underlay_ip)


def _misroute_peer(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    with iproute_in(plan.node(t.node).netns_path) as (ipr, _):
        _route(ipr, "replace", t.object, t.detail[1])


def _stale_peer_route(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    """The peer re-joined with a new pod CIDR; this node still routes its old one."""
    peer_ip = plan.node(t.detail[0]).underlay_ip
    with iproute_in(plan.node(t.node).netns_path) as (ipr, _):
        _route(ipr, "del", t.object, peer_ip)
        _route(ipr, "add", t.detail[1], peer_ip)


def masquerade_all_rule(plan: Plan) -> dict[str, Any]:
    """The lab's rule without its exception: pod-to-pod traffic is rewritten too."""
    return {
        "family": "ip",
        "table": NAT_TABLE,
        "chain": NAT_CHAIN,
        "comment": "pods leaving the pod network",
        "expr": [match("ip", "saddr", "==", prefix(_net(plan.pod_network))), {"masquerade": None}],
    }


def _masquerade_pods(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    batch = [
        {"flush": {"chain": {"family": "ip", "table": NAT_TABLE, "name": NAT_CHAIN}}},
        {"add": {"rule": masquerade_all_rule(plan)}},
    ]
    run_in_netns(plan.node(t.node).netns_path, lambda: run_nft(batch))


def firewall_expr(node: Node) -> list[dict[str, Any]]:
    """Drop what other nodes forward to this node's pods (a policy gone wrong)."""
    pods = prefix(_net(node.pod_cidr))
    return [
        match("ip", "saddr", "!=", pods),
        match("ip", "daddr", "==", pods),
        {"drop": None},
    ]


def _forward_drop(plan: Plan, pods: list[ScenePod], t: Target) -> None:
    node = plan.node(t.node)
    chain = {
        "family": "ip",
        "table": FIREWALL_TABLE,
        "name": FIREWALL_CHAIN,
        "type": "filter",
        "hook": "forward",
        "prio": 0,
        "policy": "accept",
    }
    rule = {
        "family": "ip",
        "table": FIREWALL_TABLE,
        "chain": FIREWALL_CHAIN,
        "expr": firewall_expr(node),
    }
    batch = [
        {"add": {"table": {"family": "ip", "name": FIREWALL_TABLE}}},
        {"add": {"chain": chain}},
        {"add": {"rule": rule}},
    ]
    run_in_netns(node.netns_path, lambda: run_nft(batch))


CATALOGUE: tuple[Fault, ...] = (
    Fault(
        "veth-down",
        "trouble-pods",
        "a pod's host end is down",
        _per_host_end("veth-down"),
        _set_host_end(state="down"),
    ),
    Fault(
        "veth-detached",
        "trouble-pods",
        "a pod's host end is off the bridge",
        _per_host_end("veth-detached"),
        _set_host_end(master=0),
    ),
    Fault(
        "pod-no-default-route",
        "trouble-pods",
        "a pod lost its default route",
        _pod_targets("pod-no-default-route"),
        _drop_default_route,
    ),
    Fault(
        "mtu-mismatch",
        "trouble-pods",
        "a pod's eth0 has another MTU than its host end",
        _pod_targets("mtu-mismatch", lambda rng: (rng.choice(MTUS),)),
        _set_pod_mtu,
    ),
    Fault(
        "forwarding-off",
        "trouble-pods",
        "a node does not forward",
        _node_targets("forwarding-off"),
        _forwarding_off,
    ),
    Fault(
        "route-missing",
        "trouble-cluster",
        "a node has no route to a peer's pod CIDR",
        _route_targets("route-missing", lambda plan, rng: ()),
        _delete_peer_route,
    ),
    Fault(
        "route-wrong-gateway",
        "trouble-cluster",
        "a node routes a peer's pod CIDR via an address nobody holds",
        _route_targets("route-wrong-gateway", _wrong_next_hop),
        _misroute_peer,
    ),
    Fault(
        "route-stale-cidr",
        "trouble-cluster",
        "a node routes a peer's old pod CIDR, not its current one",
        _route_targets("route-stale-cidr", _stale_cidr),
        _stale_peer_route,
    ),
    Fault(
        "masquerade-pods",
        "trouble-cluster",
        "a node's masquerade rule lost its pod-network exception",
        _node_targets("masquerade-pods"),
        _masquerade_pods,
    ),
    Fault(
        "forward-drop",
        "trouble-cluster",
        "a node's firewall drops what other nodes send to its pods",
        _node_targets("forward-drop"),
        _forward_drop,
    ),
)


def faults_of(step: str) -> list[Fault]:
    return [f for f in CATALOGUE if f.step == step]


def fault(key: str) -> Fault:
    for f in CATALOGUE:
        if f.key == key:
            return f
    raise KeyError(key)
